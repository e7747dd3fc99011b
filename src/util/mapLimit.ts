// `fn` over items with at most `limit` calls in flight, results in the items' order (image
// checks in data build, provenance cues in the audit). p-limit is the one concurrency limiter
// of the project (the batch loader's decodes use it too).
import pLimit from 'p-limit';

export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const run = pLimit(Math.max(1, limit));
  return Promise.all(items.map((item, i) => run(() => fn(item, i))));
}
