/**
 * What a scenario reports: sections (one markdown table each), rows with named cells,
 * notes, and target checks; and the markdown rendering of all of it.
 */
import { fmt, type Summary } from './stats.js';

/** A table cell: numbers are formatted when rendered, strings shown as they are. */
export type Cell = string | number | undefined;

/** One table row. */
export interface Row {
  readonly case: string;
  readonly cells: Record<string, Cell>;
}

/** One table, with the notes printed under it. */
export interface Section {
  readonly id: string;
  readonly title: string;
  readonly rows: Row[];
  readonly notes: string[];
}

/** A target of the issue, checked against this run. `met` undefined: not measurable in this run. */
export interface TargetCheck {
  readonly scenario: string;
  readonly target: string;
  readonly measured: string;
  readonly met: boolean | undefined;
}

/** Everything one scenario produced. */
export interface ScenarioResult {
  readonly sections: Section[];
  readonly targets: TargetCheck[];
}

/** Collects sections and targets while a scenario runs. */
export class Collector implements ScenarioResult {
  readonly sections: Section[] = [];
  readonly targets: TargetCheck[] = [];

  constructor(private readonly scenario: string) {}

  /** Starts a table. */
  section(id: string, title: string): Section {
    const s: Section = { id, title, rows: [], notes: [] };
    this.sections.push(s);
    return s;
  }

  /** Records a target check. */
  target(target: string, measured: string, met: boolean | undefined): void {
    this.targets.push({ scenario: this.scenario, target, measured, met });
  }
}

/** Cells of a latency summary (ms): n, p50, p90, p99, max. */
export function latencyCells(s: Summary, prefix = ''): Record<string, Cell> {
  return {
    [`${prefix}n`]: s.n,
    [`${prefix}p50 ms`]: s.p50,
    [`${prefix}p90 ms`]: s.p90,
    [`${prefix}p99 ms`]: s.p99,
    [`${prefix}max ms`]: s.max,
  };
}

function cellText(column: string, v: Cell): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  if (column.startsWith('×') || column.endsWith('×')) return Number.isFinite(v) ? `${fmt(v)}×` : '–';
  if (Number.isInteger(v)) return String(v);
  return fmt(v);
}

/** One section as a markdown table (columns: the union of the rows' cells, in order). */
export function sectionMarkdown(s: Section): string {
  const columns: string[] = [];
  for (const r of s.rows) for (const k of Object.keys(r.cells)) if (!columns.includes(k)) columns.push(k);
  const lines = [
    `### ${s.title}`,
    '',
    `| case | ${columns.join(' | ')} |`,
    `|---|${columns.map(() => '---:').join('|')}|`,
  ];
  for (const r of s.rows) lines.push(`| ${r.case} | ${columns.map((c) => cellText(c, r.cells[c])).join(' | ')} |`);
  if (s.notes.length > 0) lines.push('', ...s.notes.map((n) => `- ${n}`));
  return lines.join('\n');
}

/** The targets as a markdown table. */
export function targetsMarkdown(targets: readonly TargetCheck[]): string {
  const mark = (m: boolean | undefined) => (m === undefined ? 'n/a' : m ? 'met' : '**missed**');
  const lines = ['| scenario | target | measured | |', '|---|---|---|---|'];
  for (const t of targets) lines.push(`| ${t.scenario} | ${t.target} | ${t.measured} | ${mark(t.met)} |`);
  return lines.join('\n');
}
