// linearize.mjs - a linearizability checker for histories of one promise
// per id (issue 12): concurrent promise.create (same content), promise.settle
// (each with its own value) and promise.get, possibly through different
// servers.
//
// An operation is {kind: "create"|"settle"|"get", id, inv, ret, seen} with
// invoke/return times (ms, one clock) and what its answer showed: seen is
// "absent" (404), "pending", or "settled:<state>/<value>"; a settle also has
// its own `value` ("<state>/<value>"). An operation without an answer
// (timeout, connection error) has ret = Infinity and seen = "unknown": it may
// or may not have taken effect.
//
// The model per id: absent, then pending from one create, then settled by
// the first settle, forever. A history is linearizable iff there are points
// C (the create) and S (the winning settle) with C < S such that every
// operation that saw "absent" began before C, every one that saw the promise
// ended after C, every one that saw "pending" began before S, every one that
// saw it settled ended after S, C lies in some create's [inv, ret] and S in
// the winner's. check() returns the list
// of violations (empty when linearizable), each naming the id and the
// operations that cannot be ordered.

export function check(history) {
  const byId = new Map();
  for (const op of history) {
    if (!byId.has(op.id)) byId.set(op.id, []);
    byId.get(op.id).push(op);
  }
  const out = [];
  for (const [id, ops] of byId) out.push(...checkOne(id, ops));
  return out;
}

const fmt = (op) => `${op.kind}[${op.inv.toFixed(1)}..${op.ret === Infinity ? "?" : op.ret.toFixed(1)}]=${op.seen}`;

function checkOne(id, ops) {
  const bad = [];
  const known = ops.filter((o) => o.seen !== "unknown");
  const absent = known.filter((o) => o.seen === "absent");
  const exists = known.filter((o) => o.seen !== "absent");
  const pending = known.filter((o) => o.seen === "pending");
  const settled = known.filter((o) => o.seen.startsWith("settled:"));
  const maxInv = (xs) => xs.reduce((m, o) => Math.max(m, o.inv), -Infinity);
  const minRet = (xs) => xs.reduce((m, o) => Math.min(m, o.ret), Infinity);

  // C: within some create, after every "absent" began, before every
  // observer of the promise ended. The earliest feasible C is kept.
  let cLow = Infinity;
  if (exists.length || ops.some((o) => o.kind === "create")) {
    const hi = minRet(exists);
    for (const k of ops.filter((o) => o.kind === "create")) {
      const lo = Math.max(k.inv, maxInv(absent));
      if (lo < Math.min(k.ret, hi)) cLow = Math.min(cLow, lo);
    }
    if (exists.length && cLow === Infinity)
      bad.push(`${id}: no create can be ordered after every read that saw it absent and before every answer that saw it: ${[...absent, ...exists].map(fmt).join(" ")}`);
  }

  // S: one value for everyone, inside its settle, after C, after every
  // "pending" began and before every "settled" ended.
  const values = new Set(settled.map((o) => o.seen.slice(8)));
  if (values.size > 1) {
    bad.push(`${id}: answers show different settlements: ${[...values].join(", ")}`);
    return bad;
  }
  if (values.size === 1) {
    const v = [...values][0];
    const winners = ops.filter((o) => o.kind === "settle" && o.value === v);
    if (!winners.length) {
      bad.push(`${id}: settled as ${v}, which no settle asked for`);
      return bad;
    }
    const lo0 = Math.max(maxInv(pending), cLow === Infinity ? -Infinity : cLow);
    const hi0 = minRet(settled);
    const ok = winners.some((w) => Math.max(w.inv, lo0) < Math.min(w.ret, hi0));
    if (!ok)
      bad.push(`${id}: the settle to ${v} cannot be ordered after every read that saw it pending and before every answer that saw it settled: ${[...pending, ...settled, ...winners].map(fmt).join(" ")}`);
  }
  return bad;
}
