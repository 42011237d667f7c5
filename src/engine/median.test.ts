import { expect, test } from "bun:test";
import { Median3, median3 } from "./median.ts";

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
