// The dashboard feed's Server-Sent Events transport on fake uWS responses: the stream's headers
// and framing, one event per broadcast, a client that does not read skipped then dropped, and a
// client that went away forgotten.
import t from 'tap';
import { SSE_RETRY_MS, SseFeed, sseEvent } from '../../src/dashboard/feed.js';
import { FakeResponse } from '../helpers/fake-uws.js';

/** Every `data:` payload written to a response, parsed. */
function events(r: FakeResponse): unknown[] {
  return r.written
    .join('')
    .split('\n\n')
    .flatMap((block) => block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)) as unknown));
}

t.test('an event is an id and one data line; JSON with newlines in strings stays one line', async (t) => {
  const e = sseEvent(7, JSON.stringify({ a: 'x\ny' }));
  t.equal(e, 'id: 7\ndata: {"a":"x\\ny"}\n\n');
});

t.test('open writes the stream headers, the retry hint and the first event; broadcast reaches every subscriber', async (t) => {
  const feed = new SseFeed();
  const a = new FakeResponse();
  const b = new FakeResponse();
  feed.open(a.res, sseEvent(1, '{"seq":1,"history":{}}'));
  feed.open(b.res, sseEvent(1, '{"seq":1}'));
  t.equal(a.status, '200 OK');
  t.match(a.headers['Content-Type'], /^text\/event-stream/);
  t.equal(a.headers['Cache-Control'], 'no-cache');
  t.ok(a.written[0]!.startsWith(`retry: ${SSE_RETRY_MS}\n\n`));
  feed.broadcast(sseEvent(2, '{"seq":2}'));
  t.same(events(a), [{ seq: 1, history: {} }, { seq: 2 }]);
  t.same(events(b), [{ seq: 1 }, { seq: 2 }]);
  t.equal(feed.size, 2);
  b.abort();
  t.equal(feed.size, 1, 'an aborted client is forgotten');
  feed.broadcast(sseEvent(3, '{"seq":3}'));
  t.same(events(b), [{ seq: 1 }, { seq: 2 }], 'and written to no more');
  feed.closeAll();
  t.equal(a.ends, 1, 'closeAll ends the stream');
  t.equal(feed.size, 0);
});

t.test('a client that does not read is skipped until writable, and dropped after maxBlockedMs', async (t) => {
  let now = 0;
  const feed = new SseFeed(1000, () => now);
  const slow = new FakeResponse();
  feed.open(slow.res, sseEvent(1, '{"seq":1}'));
  slow.writeAccepts = false;
  feed.broadcast(sseEvent(2, '{"seq":2}')); // buffered by uWS; backpressure from now on
  now = 100;
  feed.broadcast(sseEvent(3, '{"seq":3}'));
  t.same(events(slow), [{ seq: 1 }, { seq: 2 }], 'skipped while blocked');
  slow.drain();
  now = 200;
  feed.broadcast(sseEvent(4, '{"seq":4}'));
  t.same(events(slow), [{ seq: 1 }, { seq: 2 }, { seq: 4 }], 'writable again: the next snapshot goes out');
  slow.writeAccepts = false;
  feed.broadcast(sseEvent(5, '{"seq":5}'));
  now = 1300;
  feed.broadcast(sseEvent(6, '{"seq":6}'));
  t.equal(slow.ends, 1, 'blocked for more than 1000 ms: the stream is ended');
  t.equal(feed.size, 0);
});
