// Per-epoch validation metrics from softmax probabilities: the numbers a trainer monitors.
// Accuracy is top-1 (argmax) over all classes; sensitivity, specificity and AUC treat
// `positiveClass` as positive and every other class as negative, with a row positive when
// its positive-class probability >= threshold (recipe/metrics' standard definitions).
// The loss is the mean cross-entropy, with probabilities clamped at 1e-12 so a confident
// mistake gives a large finite loss rather than Infinity.
import { auc, confusionAtThreshold, positiveColumn, rates } from './metrics.js';

export interface ValidMetrics {
  n: number;
  loss: number;
  accuracy: number;
  sensitivity: number;
  specificity: number;
  /** NaN when the validation set holds only one class. */
  auc: number;
}

export const MONITORS = [
  'valid_loss',
  'valid_accuracy',
  'valid_sensitivity',
  'valid_specificity',
  'valid_auc',
  'train_loss',
] as const;
export type Monitor = (typeof MONITORS)[number];

/** Whether a larger value of the monitored metric is better. */
export function monitorMode(m: Monitor): 'min' | 'max' {
  return m.endsWith('loss') ? 'min' : 'max';
}

export function validationMetrics(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  numClasses: number,
  positiveClass = 1,
  threshold = 0.5,
): ValidMetrics {
  const n = labels.length;
  if (probs.length !== n * numClasses)
    throw new Error(`validationMetrics: ${probs.length} probabilities for ${n} rows × ${numClasses} classes`);
  if (n === 0) return { n: 0, loss: NaN, accuracy: NaN, sensitivity: NaN, specificity: NaN, auc: NaN };
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    loss -= Math.log(Math.max(probs[i * numClasses + y]!, 1e-12));
    let arg = 0;
    for (let k = 1; k < numClasses; k++) if (probs[i * numClasses + k]! > probs[i * numClasses + arg]!) arg = k;
    if (arg === y) correct++;
  }
  const pos = positiveColumn(probs, numClasses, positiveClass);
  const r = rates(confusionAtThreshold(pos, labels, threshold, positiveClass));
  return {
    n,
    loss: loss / n,
    accuracy: correct / n,
    sensitivity: r.sensitivity.value,
    specificity: r.specificity.value,
    auc: auc(pos, labels, positiveClass),
  };
}
