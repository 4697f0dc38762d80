/**
 * The Streamlit page's Retrain request arrives in the ui work's state, written by a script:
 * the flagship's flow takes it only when it is new, and says what is wrong with a bad one
 * instead of training with it.
 */
import { describe, expect, it } from 'vitest';
import { readRetrainRequest } from '../../examples/flagship/retrain-request.ts';

describe('flagship retrain request', () => {
  it('is taken when its id is new and its parameters are in range', () => {
    expect(readRetrainRequest({ id: 5, epochs: 3, lr: 0.02, hidden: 16 }, 4)).toEqual({
      request: { id: 5, epochs: 3, lr: 0.02, hidden: 16 },
    });
  });

  it('is ignored when absent, malformed or already taken', () => {
    expect(readRetrainRequest(undefined, 0)).toBeNull();
    expect(readRetrainRequest([1], 0)).toBeNull();
    expect(readRetrainRequest({ epochs: 3 }, 0)).toBeNull();
    expect(readRetrainRequest({ id: 7, epochs: 3, lr: 0.02, hidden: 16 }, 7)).toBeNull();
  });

  it('names every bad parameter of a new request', () => {
    const got = readRetrainRequest({ id: 9, epochs: 2.5, lr: 0, hidden: '64' }, 0);
    expect(got).toEqual({
      request: { id: 9 },
      error:
        'epochs must be an integer from 1 to 500, got 2.5; hidden must be an integer from 1 to 4096, got "64"; ' +
        'lr must be a number from 0.000001 to 1, got 0',
    });
  });
});
