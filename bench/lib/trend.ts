/**
 * Trends of a soak: the least-squares slope of a metric over time, with its standard
 * error, and the "nothing may grow" verdict.
 */

/** A least-squares line through (x, y) points. */
export interface Trend {
  readonly n: number;
  /** Change of y per unit of x. */
  readonly slope: number;
  /** Standard error of the slope (NaN for fewer than 3 points). */
  readonly se: number;
  /** Lower and upper bounds of the slope's 95 % confidence interval. */
  readonly low: number;
  readonly high: number;
}

// Two-sided 97.5 % quantiles of Student's t for 1..30 degrees of freedom.
const T975 = [
  12.71, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11,
  2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];
const t975 = (df: number): number => (df < 1 ? Number.NaN : (T975[df - 1] ?? (df < 60 ? 2.02 : 1.98)));

/** The least-squares slope of `ys` over `xs`. */
export function trend(xs: readonly number[], ys: readonly number[]): Trend {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return { n, slope: Number.NaN, se: Number.NaN, low: Number.NaN, high: Number.NaN };
  const mx = xs.slice(0, n).reduce((s, v) => s + v, 0) / n;
  const my = ys.slice(0, n).reduce((s, v) => s + v, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (xs[i] - mx) ** 2;
    sxy += (xs[i] - mx) * (ys[i] - my);
  }
  const slope = sxx === 0 ? Number.NaN : sxy / sxx;
  let ssr = 0;
  for (let i = 0; i < n; i++) ssr += (ys[i] - my - slope * (xs[i] - mx)) ** 2;
  const se = n > 2 && sxx > 0 ? Math.sqrt(ssr / (n - 2) / sxx) : Number.NaN;
  const half = t975(n - 2) * se;
  return { n, slope, se, low: slope - half, high: slope + half };
}

/** How a metric is judged. */
export type GrowthRule =
  /** Grows when the slope is significantly above 0 and above `fraction` of the start value per x unit. */
  | { readonly kind: 'relative'; readonly fraction: number }
  /** Grows when end − start exceeds `allowed`, or the slope is significantly above 0 and the fitted rise over the window exceeds `allowed`. */
  | { readonly kind: 'absolute'; readonly allowed: number };

/** The verdict of one metric. */
export interface Verdict {
  readonly grows: boolean;
  /** True when the slope's 95 % interval lies above 0 (it rises, maybe too little to matter). */
  readonly significant: boolean;
  /** end − start. */
  readonly change: number;
  /** slope × (window length): the rise the fitted line shows over the window. */
  readonly fittedRise: number;
}

/** Judges one metric over a window of `xs` (start .. end) by `rule`. */
export function judge(xs: readonly number[], ys: readonly number[], rule: GrowthRule): Verdict & Trend {
  const t = trend(xs, ys);
  const start = ys[0];
  const end = ys[ys.length - 1];
  const span = xs[xs.length - 1] - xs[0];
  const significant = Number.isFinite(t.low) ? t.low > 0 : t.slope > 0;
  const fittedRise = t.slope * span;
  const change = end - start;
  const grows =
    rule.kind === 'relative'
      ? significant && t.slope > rule.fraction * Math.abs(start)
      : change > rule.allowed || (significant && fittedRise > rule.allowed);
  return { ...t, grows, significant, change, fittedRise };
}
