/**
 * One replica of the demo's election: campaigns for `demo/leader` and, while leader,
 * reports over IPC. Killed by the demo to show a failover.
 */
import { connect } from '../../src/index.js';

const [endpoint, namespace, name] = process.argv.slice(2);
const coord = await connect({ endpoints: [endpoint], namespace, ttl: 2 });
const leadership = await coord.election('demo/leader').campaign(name);
process.send?.({ type: 'leading', name, token: leadership.token.toString() });
leadership.signal.addEventListener('abort', () => process.exit(0));
process.on('SIGTERM', async () => {
  await coord.close();
  process.exit(0);
});
