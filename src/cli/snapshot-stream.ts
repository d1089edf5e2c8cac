/**
 * Opens etcd's snapshot stream (Maintenance.Snapshot).
 *
 * etcd3 1.1.2's `maintenance.snapshot()` hands the auth metadata to gRPC in the place of
 * the request, so with etcd auth enabled the server sees no token ("auth: user name is
 * empty"). This calls the same gRPC method through etcd3's connection pool with the
 * arguments in the right order; without auth the two are the same.
 * @module
 */
import type { Etcd3, ISnapshotResponse } from 'etcd3';

/** The snapshot stream: a readable of {@link ISnapshotResponse} messages that can be cancelled. */
export type SnapshotStream = AsyncIterable<ISnapshotResponse> & { cancel(): void };

interface Pool {
  withConnection<R>(
    service: 'Maintenance',
    fn: (args: { client: unknown; metadata: unknown }) => R | Promise<R>,
  ): Promise<R>;
}

interface MaintenanceGrpc {
  snapshot(request: object, metadata: unknown, options: object): SnapshotStream;
}

/** Opens the snapshot stream on one of the client's endpoints, with its credentials. */
export function openSnapshotStream(client: Etcd3): Promise<SnapshotStream> {
  const pool = (client as unknown as { pool: Pool }).pool;
  return pool.withConnection('Maintenance', ({ client: grpc, metadata }) =>
    (grpc as MaintenanceGrpc).snapshot({}, metadata, {}),
  );
}
