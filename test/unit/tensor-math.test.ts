// src/tensor-math.ts: argmax, the predicted class of a logit vector.
import t from 'tap';
import { argmax } from '../../src/tensor-math.js';

t.test('argmax', async (t) => {
  t.equal(argmax(Float32Array.from([0.1, -3, 7.5, 2])), 2);
  t.equal(argmax([1, 5, 5, 2]), 1, 'the first on ties');
  t.equal(argmax([NaN, -2, NaN, -1]), 3, 'NaN never wins');
  t.equal(argmax([-Infinity, -1e30]), 1);
  t.equal(argmax([]), -1, 'nothing to choose from');
  t.equal(argmax([NaN, NaN]), -1);
});
