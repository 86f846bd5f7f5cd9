// The console keeps no copy of the contract's rules (contract §1, §2, §4): no resource threshold,
// no yen amount, no hour rule and no list of service ids is written in `src/` outside the
// generated files. They come from the engine's catalogue (`Backend.catalogue()`, registered by
// `model/catalogue.ts`) and its health line (`business_hours`). The patterns are built from the
// generated catalogue itself, so a new service or threshold is looked for without editing this.
import { describe, expect, it } from 'vitest';
import catalogue from '../src/lib/backend/generated/catalogue.json';

/** Every source of the console as text, outside `generated/` (made from the Rust types and
 * tables: the one place the contract's data may stand). */
const SOURCES = import.meta.glob(['../src/**/*.ts', '../src/**/*.svelte', '!../src/lib/backend/generated/**'], {
  query: '?raw',
  import: 'default',
  eager: true,
}) as Record<string, string>;

/** Code without comments (a comment may explain a rule; code may not hold one). */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/<!--[\s\S]*?-->/g, ' ').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

const serviceIds = catalogue.services.map((s) => s.id);
/** The yen limits, in any spelling anywhere; a plan's fee only beside 円, yen or ¥ (15_000 is
 * also a common number of milliseconds). */
const yenLimits = [catalogue.spot_min_yen, catalogue.investigation_cap_yen];
const fees = catalogue.plans.map((p) => p.monthly_fee_yen).filter((n) => n >= 1000);
const spelled = (n: number) => String(n).replace(/(\d)(?=(\d{3})+$)/g, '$1[_,]?');

interface Finding {
  file: string;
  line: number;
  what: string;
}

/** What a file writes that only the catalogue may say. */
export function findRules(file: string, text: string): Finding[] {
  const found: Finding[] = [];
  const lines = code(text).split('\n');
  const at = (i: number, what: string) => found.push({ file, line: i + 1, what });
  // Digits of a yen amount in any spelling: 20000, 20_000, 20,000.
  const yen = [
    // Not part of a longer number; a comma or underscore counts only between digits (`20_000,` is
    // the number 20000 followed by a comma).
    ...yenLimits.map((n) => new RegExp(`(?<![\\d_]|\\d,)${spelled(n)}(?![\\d_]|,\\d)`)),
    ...fees.map((n) => new RegExp(`(?<![\\d_]|\\d,)${spelled(n)}(?![\\d_]|,\\d)\\s*(円|yen)|¥\\s*${spelled(n)}(?![\\d_]|,\\d)`)),
  ];
  // A threshold triple as written in code: [80, 90, 95], 500, 1000, 2000 …
  const triples = catalogue.resources.map((r) => new RegExp(r.thresholds.map((t) => `(?<!\\d)${t.value}(?!\\d)`).join('\\s*,\\s*')));
  const hours = [
    /get(UTC)?Hours\(\)[^;\n]*[<>]=?\s*\d/, // h >= 9 after getHours()
    /\b(h|hour|hours)\s*>=?\s*\d+\s*&&\s*\1\s*<=?\s*\d+/, // h >= 9 && h < 18
    new RegExp(`\\b${catalogue.business_hours.start_hour}\\s*[–〜~-]\\s*${catalogue.business_hours.end_hour}\\b`),
  ];
  lines.forEach((l, i) => {
    for (const r of yen) if (r.test(l)) at(i, `a yen amount (${r.source})`);
    for (const r of triples) if (r.test(l)) at(i, `resource thresholds (${r.source})`);
    for (const r of hours) if (r.test(l)) at(i, `an hour rule (${r.source})`);
  });
  // A list of service ids: three or more different ids quoted (or as keys) within 4 lines.
  const quoted = new RegExp(`(?:['"\`](${serviceIds.join('|')})['"\`]|^\\s*(${serviceIds.join('|')})\\s*:)`, 'g');
  lines.forEach((_, i) => {
    const window = lines.slice(i, i + 4).join('\n');
    const ids = new Set([...window.matchAll(quoted)].map((m) => m[1] ?? m[2]));
    if (ids.size >= 3 && !found.some((f) => f.what.startsWith('a list of service ids') && f.line >= i - 2)) {
      at(i, `a list of service ids (${[...ids].join(', ')})`);
    }
  });
  return found;
}

describe('the console keeps no copy of the contract', () => {
  it('finds each kind of copy it looks for (so the check below can fail)', () => {
    const planted = [
      "const th = [80, 90, 95];",
      "const MIN = 20_000;",
      "if (h >= 9 && h < 18) return true;",
      "const S = ['http', 'pop', 'imap'];",
      "label: '平日 9–18 時',",
    ].join('\n');
    const kinds = findRules('planted.ts', planted).map((f) => f.what.split(' (')[0]);
    expect(new Set(kinds)).toEqual(new Set(['resource thresholds', 'a yen amount', 'an hour rule', 'a list of service ids']));
    // A number followed by a comma (an argument list) is still that number.
    expect(findRules('args.ts', 'const n = Math.min(50_000, x);')).toHaveLength(1);
    expect(findRules('ok.ts', "const W = 900; // [80, 90, 95] in a comment is fine\nconst x = 'http';")).toEqual([]);
  });

  it('ui/src outside generated/ holds no threshold, yen amount, hour rule or service list', () => {
    expect(Object.keys(SOURCES).length).toBeGreaterThan(50); // the glob found the sources
    const found = Object.entries(SOURCES).flatMap(([f, text]) => findRules(f.replace('../', 'ui/'), text));
    expect(found.map((f) => `${f.file}:${f.line}: ${f.what}`)).toEqual([]);
  });
});
