import { expect, test } from "bun:test";
import { Median3, median3, median3Sel } from "./median.ts";

test("median3() returns the middle value of every ordering", () => {
  const perms = [
    [1, 2, 3],
    [1, 3, 2],
    [2, 1, 3],
    [2, 3, 1],
    [3, 1, 2],
    [3, 2, 1],
  ];
  for (const [a, b, c] of perms) expect(median3(a, b, c)).toBe(2);
  expect(median3(5, 5, 1)).toBe(5);
  expect(median3(1, 5, 1)).toBe(1);
  expect(median3(-1, 0, 1e300)).toBe(0);
});

test("median3() removes a single spike from a sequence and passes a step one sample late", () => {
  const run = (xs: number[]) => {
    let p1 = xs[0];
    let p2 = xs[0];
    return xs.map((x) => {
      const m = median3(p2, p1, x);
      p2 = p1;
      p1 = x;
      return m;
    });
  };
  expect(run([1, 1, 1000, 1, 1, 1])).toEqual([1, 1, 1, 1, 1, 1]);
  expect(run([1, 1, 9, 9, 9, 9])).toEqual([1, 1, 1, 9, 9, 9]);
});

test("Median3 runs a median of three over a stream, primed with its initial value", () => {
  const m = new Median3(5);
  expect([m.next(100), m.next(6), m.next(7), m.next(-50), m.next(8)]).toEqual([5, 6, 7, 6, 7]);
});

// median3Sel and Median3 must pick what median3 picks, to the bit: every
// triple of edge values (NaN, ±Infinity, −0 and +0, ties) in every order.
const EDGES = [NaN, -Infinity, -1, -0, 0, 1, 1, Infinity, 5e-324, -1e308];

test("median3Sel() picks median3's operand for every triple of edge values, NaN, ±Infinity, −0 and ties included", () => {
  const sel = new Float64Array(3);
  let checked = 0;
  for (const a of EDGES)
    for (const b of EDGES)
      for (const c of EDGES) {
        const want = median3(a, b, c);
        const got = median3Sel(sel, a, b, c);
        if (!Object.is(got, want)) throw new Error(`median3Sel(${a}, ${b}, ${c}) = ${got}, median3 gives ${want}`);
        checked++;
      }
  expect(checked).toBe(EDGES.length ** 3);
});

test("Median3 gives median3 of the last two inputs and the new one, to the bit, over a stream of edge values", () => {
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const m = new Median3(-0);
  let p1 = -0;
  let p2 = -0;
  for (let i = 0; i < 20_000; i++) {
    const v = i % 3 === 0 ? EDGES[Math.floor(next() * EDGES.length)] : Math.round((next() - 0.5) * 6) / 2;
    const want = median3(p2, p1, v);
    p2 = p1;
    p1 = v;
    const got = m.next(v);
    if (!Object.is(got, want)) throw new Error(`step ${i}: Median3 gave ${got}, median3 ${want}`);
  }
});
