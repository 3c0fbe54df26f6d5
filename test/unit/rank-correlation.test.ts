// Spearman's rank correlation (src/sim/rank-correlation.ts), which --validate records between the
// time outside the engine and the engine's latency of the same answers.
import t from 'tap';
import { rankCorrelation } from '../../src/sim/rank-correlation.js';

t.test('rank correlation: monotone, reversed, tied and degenerate samples', async (t) => {
  t.equal(rankCorrelation([1, 2, 3, 4], [10, 20, 1000, 4000]), 1, 'any rising relation is 1');
  t.equal(rankCorrelation([1, 2, 3, 4], [4, 3, 2, 1]), -1);
  // Ranks x: 0 1 2 3, y: 0.5 0.5 3 2 (the tie shares 0.5); about the mean 1.5: sxy 3.5, sxx 5, syy 4.5.
  t.ok(Math.abs(rankCorrelation([1, 2, 3, 4], [7, 7, 9, 8])! - 3.5 / Math.sqrt(5 * 4.5)) < 1e-12, 'ties share their average rank');
  t.equal(rankCorrelation([1], [1]), null, 'one pair: none');
  t.equal(rankCorrelation([1, 2, 3], [5, 5, 5]), null, 'a constant sample: none');
  t.equal(rankCorrelation(Float64Array.from([3, 1, 2]), Float64Array.from([30, 10, 20])), 1, 'typed arrays');
});
