// prom.mjs - a strict parser of the Prometheus text exposition format
// (version 0.0.4), for checking what /metrics serves.
//
// Stricter than Prometheus itself where being lenient would hide a bug in
// our exporter: every family must be declared with # TYPE before its first
// sample, families may not be interleaved, a series may not repeat, counters
// may not be negative, and each histogram series must have cumulative
// buckets in increasing `le` order ending in le="+Inf" equal to its _count,
// plus a _sum. parse() throws an Error naming the line on the first
// violation.

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function parseFloatStrict(text, where) {
  if (text === "+Inf" || text === "Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) {
    throw new Error(`${where}: invalid number '${text}'`);
  }
  return Number(text);
}

function unescapeHelp(text, where) {
  return text.replace(/\\(.?)/g, (_, c) => {
    if (c === "\\") return "\\";
    if (c === "n") return "\n";
    throw new Error(`${where}: invalid escape '\\${c}' in HELP`);
  });
}

// Parses `{a="x",b="y"}` starting at s[i] === "{"; returns [labels, next index].
function parseLabels(s, i, where) {
  const labels = {};
  i++; // {
  while (s[i] !== "}") {
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(s.slice(i));
    if (!m) throw new Error(`${where}: expected a label name at column ${i + 1}`);
    const name = m[0];
    if (name.startsWith("__")) throw new Error(`${where}: reserved label name '${name}'`);
    if (name in labels) throw new Error(`${where}: duplicate label '${name}'`);
    i += name.length;
    if (s[i] !== "=" || s[i + 1] !== '"') throw new Error(`${where}: expected ="..." after '${name}'`);
    i += 2;
    let value = "";
    for (;;) {
      if (i >= s.length) throw new Error(`${where}: unterminated label value`);
      const c = s[i++];
      if (c === '"') break;
      if (c === "\\") {
        const e = s[i++];
        if (e === "\\") value += "\\";
        else if (e === '"') value += '"';
        else if (e === "n") value += "\n";
        else throw new Error(`${where}: invalid escape '\\${e}' in a label value`);
      } else {
        value += c;
      }
    }
    labels[name] = value;
    if (s[i] === ",") i++;
    else if (s[i] !== "}") throw new Error(`${where}: expected ',' or '}' at column ${i + 1}`);
  }
  return [labels, i + 1];
}

// The family a sample name belongs to, given the declared families.
function familyOf(name, families) {
  if (families.has(name)) return name;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      const f = families.get(base);
      if (f && (f.type === "histogram" || (f.type === "summary" && suffix !== "_bucket"))) return base;
    }
  }
  return null;
}

function seriesKey(name, labels) {
  return name + JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));
}

/**
 * Parses text; returns Map family name -> {type, help, samples: [{name,
 * labels, value}]}. Throws on the first violation.
 */
export function parse(text) {
  if (text.length && !text.endsWith("\n")) throw new Error("the last line does not end with a newline");
  const families = new Map();
  const finished = new Set(); // families whose samples are over
  const seen = new Set();
  let current = null;
  const lines = text.split("\n");
  lines.pop();
  lines.forEach((line, idx) => {
    const where = `line ${idx + 1}`;
    if (line === "") return;
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!m) return; // a plain comment
      const [, what, name, rest = ""] = m;
      if (!NAME.test(name)) throw new Error(`${where}: invalid metric name '${name}'`);
      if (finished.has(name) || (current !== name && families.get(name)?.samples.length)) {
        throw new Error(`${where}: ${what} for '${name}' after its samples`);
      }
      let f = families.get(name);
      if (!f) {
        f = { type: null, help: null, samples: [] };
        families.set(name, f);
      }
      if (current && current !== name) finished.add(current);
      current = name;
      if (what === "HELP") {
        if (f.help !== null) throw new Error(`${where}: second HELP for '${name}'`);
        f.help = unescapeHelp(rest, where);
      } else {
        if (f.type !== null) throw new Error(`${where}: second TYPE for '${name}'`);
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type '${rest}'`);
        f.type = rest;
      }
      return;
    }
    const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!m) throw new Error(`${where}: expected a metric name: '${line}'`);
    const name = m[0];
    let i = name.length;
    let labels = {};
    if (line[i] === "{") [labels, i] = parseLabels(line, i, where);
    if (line[i] !== " ") throw new Error(`${where}: expected a space before the value`);
    const parts = line.slice(i + 1).split(" ");
    if (parts.length < 1 || parts.length > 2 || parts.some((p) => p === "")) {
      throw new Error(`${where}: expected 'value [timestamp]' after the series`);
    }
    const value = parseFloatStrict(parts[0], where);
    if (parts.length === 2 && !/^-?\d+$/.test(parts[1])) throw new Error(`${where}: invalid timestamp`);
    const fam = familyOf(name, families);
    if (!fam || families.get(fam).type === null) {
      throw new Error(`${where}: sample '${name}' without a preceding # TYPE`);
    }
    if (finished.has(fam) || (current !== fam)) {
      throw new Error(`${where}: samples of '${fam}' are not contiguous`);
    }
    const f = families.get(fam);
    if (f.type !== "histogram" && f.type !== "summary" && name !== fam) {
      throw new Error(`${where}: '${name}' in ${f.type} family '${fam}'`);
    }
    if (f.type === "counter" && !(value >= 0)) throw new Error(`${where}: counter ${name} is ${value}`);
    if (f.type === "histogram" && name === `${fam}_bucket` && !("le" in labels)) {
      throw new Error(`${where}: histogram bucket without le`);
    }
    if (f.type === "histogram" && name !== `${fam}_bucket` && "le" in labels) {
      throw new Error(`${where}: le label on ${name}`);
    }
    const key = seriesKey(name, labels);
    if (seen.has(key)) throw new Error(`${where}: duplicate series ${name}${JSON.stringify(labels)}`);
    seen.add(key);
    f.samples.push({ name, labels, value, line: idx + 1 });
  });
  for (const [name, f] of families) if (f.type === "histogram") checkHistogram(name, f);
  return families;
}

function checkHistogram(name, f) {
  const groups = new Map();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const k = seriesKey("", rest);
    if (!groups.has(k)) groups.set(k, { buckets: [], sum: null, count: null, labels: rest });
    const g = groups.get(k);
    if (s.name === `${name}_bucket`) g.buckets.push({ le: parseFloatStrict(le, `line ${s.line}`), v: s.value, line: s.line });
    else if (s.name === `${name}_sum`) g.sum = s.value;
    else g.count = s.value;
  }
  for (const g of groups.values()) {
    const what = `histogram ${name}${JSON.stringify(g.labels)}`;
    if (!g.buckets.length) throw new Error(`${what}: no buckets`);
    if (g.sum === null || g.count === null) throw new Error(`${what}: _sum or _count missing`);
    for (let i = 0; i < g.buckets.length; i++) {
      const b = g.buckets[i];
      if (!Number.isInteger(b.v) || b.v < 0) throw new Error(`${what}: bucket count ${b.v}`);
      if (i > 0 && !(b.le > g.buckets[i - 1].le)) throw new Error(`${what}: le not increasing at line ${b.line}`);
      if (i > 0 && b.v < g.buckets[i - 1].v) throw new Error(`${what}: buckets not cumulative at line ${b.line}`);
    }
    const last = g.buckets[g.buckets.length - 1];
    if (last.le !== Infinity) throw new Error(`${what}: no le="+Inf" bucket`);
    if (last.v !== g.count) throw new Error(`${what}: +Inf bucket ${last.v} != _count ${g.count}`);
  }
}

/** The value of the sample name{labels} (labels must match exactly), or undefined. */
export function value(families, name, labels = {}) {
  const key = seriesKey(name, labels);
  for (const f of families.values()) {
    for (const s of f.samples) if (seriesKey(s.name, s.labels) === key) return s.value;
  }
  return undefined;
}
