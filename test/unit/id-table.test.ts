// Live records by increasing id without a Map (src/engine/id-table.ts): a record is found by its id
// until deleted, a newer id on the same ring slot does not hide an older live one (it moves to the
// overflow), a stale id never finds the newer record in its slot, the ring doubles under a backlog,
// and a long random run of mostly-in-order adds and deletes agrees with a Map at every step.
import t from 'tap';
import { IdTable } from '../../src/engine/id-table.js';

interface Rec {
  readonly id: number;
}

t.test('in-order records, and a stale id on a reused slot', async (t) => {
  const table = new IdTable<Rec>(4);
  const a = { id: 1 };
  const b = { id: 2 };
  table.add(a);
  table.add(b);
  t.equal(table.size, 2);
  t.equal(table.get(1), a);
  t.equal(table.get(2), b);
  t.ok(table.delete(1));
  t.notOk(table.delete(1), 'a second delete finds nothing');
  t.equal(table.get(1), undefined);
  const e = { id: 5 }; // the slot id 1 had
  table.add(e);
  t.equal(table.get(5), e);
  t.equal(table.get(1), undefined, 'a stale id does not find the newer record in its slot');
  t.notOk(table.delete(1), 'nor delete it');
  t.equal(table.get(5), e);
  t.equal(table.size, 2);
  t.equal(table.overflowed, 0);
});

t.test('a straggler outlives the ids that pass its slot', async (t) => {
  const table = new IdTable<Rec>(8);
  const old = { id: 1 };
  table.add(old);
  let deleted = 0;
  for (let id = 2; id <= 40; id++) {
    table.add({ id });
    if (table.delete(id)) deleted++;
  }
  t.equal(deleted, 39, 'each newer record deleted');
  t.equal(table.get(1), old, 'still found after 39 newer ids came and went');
  t.equal(table.size, 1);
  t.equal(table.overflowed, 1, 'held outside the ring');
  t.ok(table.delete(1));
  t.equal(table.size, 0);
  t.equal(table.overflowed, 0);
  t.same([...table.values()], []);
});

t.test('a backlog longer than the ring doubles it', async (t) => {
  const table = new IdTable<Rec>(16);
  const recs = Array.from({ length: 5000 }, (_, i) => ({ id: i + 1 }));
  for (const r of recs) table.add(r);
  t.equal(table.size, 5000);
  t.ok(table.overflowed <= 5000 / 8, `stragglers stay a fraction of the records (${table.overflowed})`);
  t.ok(recs.every((r) => table.get(r.id) === r), 'every record is found');
  const seen = [...table.values()].map((r) => r.id).sort((x, y) => x - y);
  t.same(seen, recs.map((r) => r.id), 'values() yields each record once');
  t.equal(recs.filter((r) => table.delete(r.id)).length, 5000, 'each record deleted once');
  t.equal(table.size, 0);
  t.equal(table.overflowed, 0);
});

t.test('agrees with a Map over a long random run', async (t) => {
  // A seeded generator: the run is the same every time.
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
  const table = new IdTable<Rec>(8);
  const model = new Map<number, Rec>();
  let nextId = 1;
  let mismatches = 0;
  for (let step = 0; step < 20000; step++) {
    const live = [...model.keys()];
    if (live.length === 0 || rand() < 0.52) {
      const r = { id: nextId++ };
      table.add(r);
      model.set(r.id, r);
    } else {
      // Mostly the oldest (in order), sometimes any (a straggler left behind), sometimes an id not held.
      const x = rand();
      const id = x < 0.7 ? live[0]! : x < 0.95 ? live[Math.floor(rand() * live.length)]! : nextId + 3;
      if (table.delete(id) !== model.delete(id)) mismatches++;
    }
    const probe = 1 + Math.floor(rand() * nextId);
    if (table.get(probe) !== model.get(probe)) mismatches++;
    if (table.size !== model.size) mismatches++;
  }
  t.equal(mismatches, 0, 'get, delete and size as a Map answers them');
  const ids = [...table.values()].map((r) => r.id).sort((x, y) => x - y);
  t.same(ids, [...model.keys()].sort((x, y) => x - y), 'the same records at the end');
  t.ok(model.size > 100, `the run left a backlog to check (${model.size})`);
});
