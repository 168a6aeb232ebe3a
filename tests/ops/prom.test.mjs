// prom.test.mjs - the strict exposition-format parser accepts what the
// format allows and refuses what it does not, so the metrics tests that rely
// on it can fail.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parse, value } from "./prom.mjs";

const GOOD = `# HELP req_total Requests, with a \\\\ and a \\n in the help.
# TYPE req_total counter
req_total{kind="a",status="200"} 3
req_total{kind="b\\"q\\\\x\\ny",status="404"} 1 1700000000000
# a plain comment
# TYPE lat_seconds histogram
lat_seconds_bucket{kind="a",le="0.1"} 1
lat_seconds_bucket{kind="a",le="1"} 2
lat_seconds_bucket{kind="a",le="+Inf"} 3
lat_seconds_sum{kind="a"} 12.5
lat_seconds_count{kind="a"} 3
# TYPE depth gauge
depth -1.5e3

# TYPE nan_gauge gauge
nan_gauge NaN
`;

test("accepts a document with counters, histograms, gauges, escapes and timestamps", () => {
  const f = parse(GOOD);
  assert.equal(f.get("req_total").help, "Requests, with a \\ and a \n in the help.");
  assert.equal(value(f, "req_total", { kind: "a", status: "200" }), 3);
  assert.equal(value(f, "req_total", { kind: 'b"q\\x\ny', status: "404" }), 1);
  assert.equal(value(f, "lat_seconds_count", { kind: "a" }), 3);
  assert.equal(value(f, "depth"), -1500);
  assert.equal(value(f, "req_total", { kind: "zzz" }), undefined);
});

const BAD = [
  ["no final newline", "# TYPE a counter\na 1", /does not end with a newline/],
  ["sample without TYPE", "a 1\n", /without a preceding # TYPE/],
  ["second TYPE", "# TYPE a counter\n# TYPE a counter\n", /second TYPE/],
  ["second HELP", "# HELP a x\n# HELP a y\n", /second HELP/],
  ["unknown type", "# TYPE a meter\n", /unknown type/],
  ["interleaved families", "# TYPE a counter\n# TYPE b counter\nb 1\na 1\n", /not contiguous/],
  ["TYPE after samples", "# TYPE a counter\na 1\n# TYPE b gauge\nb 1\n# HELP a late\n", /after its samples/],
  ["negative counter", "# TYPE a counter\na -1\n", /counter a is -1/],
  ["duplicate series", '# TYPE a counter\na{x="1"} 1\na{x="1"} 2\n', /duplicate series/],
  ["duplicate label", '# TYPE a counter\na{x="1",x="2"} 1\n', /duplicate label/],
  ["bad label escape", '# TYPE a counter\na{x="\\t"} 1\n', /invalid escape/],
  ["unterminated label", '# TYPE a counter\na{x="1} 1\n', /unterminated|expected/],
  ["bad metric name", "# TYPE 1a counter\n", /invalid metric name/],
  ["bad value", "# TYPE a gauge\na one\n", /invalid number/],
  ["extra field", "# TYPE a gauge\na 1 2 3\n", /expected 'value \[timestamp\]'/],
  ["gauge with suffix sample", "# TYPE a gauge\na_sum 1\n", /without a preceding # TYPE|in gauge family/],
  ["reserved label", '# TYPE a gauge\na{__name__="x"} 1\n', /reserved label/],
  ["histogram +Inf != count",
    '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n', /!= _count/],
  ["histogram not cumulative",
    '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="2"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n', /not cumulative/],
  ["histogram without +Inf", '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', /no le="\+Inf"/],
  ["histogram le order", '# TYPE h histogram\nh_bucket{le="2"} 1\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', /not increasing/],
  ["histogram without sum", '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_count 1\n', /_sum or _count missing/],
  ["bucket without le", "# TYPE h histogram\nh_bucket 1\n", /without le/],
];

for (const [name, text, re] of BAD) {
  test(`refuses: ${name}`, () => {
    assert.throws(() => parse(text), re);
  });
}
