// The dashboard as a person uses it: Debian's Chromium (headless, through playwright-core) opens
// /dashboard of a real server with the bundled default deployment, starts the page's load, sees
// the numbers move, injects a delay on a deployed instance from the page, and sees
// reconstructions on the page and in /metrics; then clears the fault from the page.
// PARM_DASHBOARD_SCREENSHOT=<file> also saves the screenshot there, after a longer run (the README's).
import { existsSync, mkdtempSync, rmSync, statSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { ParmEngine } from '../../src/engine/engine.js';
import { DEFAULT_DATASET_DIR } from '../../src/dataset.js';
import { startServer } from '../../src/server/app.js';
import { servedDeployment } from './server-helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const readme = process.env.PARM_DASHBOARD_SCREENSHOT;

/** A number shown in a tile ('1234', '35', '342 (35/s)'): its first number. */
function shown(text: string | null): number {
  const m = /-?\d+(\.\d+)?/.exec(text ?? '');
  return m ? Number(m[0]) : NaN;
}

/** Polls `check` (a read of the page) until it holds, or fails after `timeoutMs` naming `what`. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

t.test('the dashboard in a browser: live numbers, load from the page, a fault injected and cleared from the page', { skip: existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM} (apt-get install chromium)` }, async (t) => {
  const { chromium } = await import('playwright-core');
  const deployment = servedDeployment();
  const engine = new ParmEngine(deployment);
  await engine.ready();
  const server = await startServer({ engines: [engine], port: 0, dashboard: { controls: true } });
  t.teardown(() => server.close());
  const profile = mkdtempSync(join(tmpdir(), 'parm-dashboard-browser-'));
  t.teardown(() => rmSync(profile, { recursive: true, force: true }));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 1000 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.teardown(() => context.close());
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const external: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(server.url) && !r.url().startsWith('data:')) external.push(r.url());
  });

  await page.goto(`${server.url}/dashboard`);
  const dep = page.locator(`[data-deployment="${deployment.name}"]`);
  const tile = async (name: string) => shown(await dep.locator(`[data-field="${name}"]`).textContent());
  await page.locator('[data-field="connection"]', { hasText: /^live$/ }).waitFor({ timeout: 30_000 });
  const seq = async () => shown(await page.locator('[data-field="seq"]').textContent());
  const seq0 = await seq();
  await until('two more snapshots', async () => (await seq()) >= seq0 + 2, 30_000);
  t.pass('the page takes a new snapshot every second');
  t.equal(await dep.locator('table.instances tbody tr').count(), engine.metrics().instances.length, 'every instance listed');

  // Load from the page's button.
  await page.locator('#load-rate').fill('200');
  await page.locator('#load-seconds').fill(readme ? '90' : '60');
  await page.locator('#load-start').click();
  await page.locator('[data-field="load-status"]', { hasText: /^running:/ }).waitFor({ timeout: 30_000 });
  if (existsSync(DEFAULT_DATASET_DIR)) t.match(await page.locator('[data-field="load-status"]').textContent(), /fashion-mnist test set/, 'the load sends the test set');
  await until('100 answers', async () => (await tile('answered-total')) > 100, 60_000);
  const answered1 = await tile('answered-total');
  await until('more answers', async () => (await tile('answered-total')) > answered1, 30_000);
  t.ok((await tile('answered-total')) > answered1, 'answered count moves under the load');
  t.ok((await tile('answered-rate')) > 0, 'answered/s shown');
  t.ok((await tile('p50')) > 0, 'a p50 is shown');
  if (readme) await page.waitForTimeout(15_000);

  // A delay on deployed-0, from the page.
  const recBefore = await tile('reconstructions-total');
  t.comment(`before the fault: ${engine.metrics().restarts} instance restarts, ${recBefore} reconstructions`);
  const form = dep.locator('.fault-form');
  await form.locator('[data-input="instance"]').selectOption('deployed-0');
  await form.locator('[data-input="kind"]').selectOption('delay');
  await form.locator('[data-input="ms"]').fill('150');
  await form.locator('[data-action="inject"]').click();
  const row0 = dep.locator('tr[data-instance="deployed-0"]');
  await row0.locator('[data-field="faults"]', { hasText: 'delay 150 ms' }).waitFor({ timeout: 30_000 });
  t.same(
    engine.metrics().faults.map((f) => [f.kind, f.instance]),
    [['delay', 'deployed-0']],
    'the engine has the fault the page set',
  );
  await until('20 more reconstructions', async () => (await tile('reconstructions-total')) >= recBefore + 20, 60_000);
  const recShown = await tile('reconstructions-total');
  t.ok(recShown >= recBefore + 20, `reconstructions on the page: ${recBefore} before the fault, ${recShown} after`);
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  const recMetric = metric(metrics, 'parm_engine_reconstructions_total');
  t.ok(recMetric >= recShown, `/metrics parm_engine_reconstructions_total ${recMetric} >= the ${recShown} the page showed`);
  if (readme) await page.waitForTimeout(20_000);

  const shots = mkdtempSync(join(tmpdir(), 'parm-dashboard-shot-'));
  t.teardown(() => rmSync(shots, { recursive: true, force: true }));
  const shot = join(shots, 'dashboard.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.ok(statSync(shot).size > 10_000, `screenshot saved (${statSync(shot).size} bytes)`);
  if (readme) {
    copyFileSync(shot, resolve(readme));
    t.comment(`screenshot written to ${resolve(readme)}`);
  }

  // A wrong fault from another tool: the engine's validation, named, and nothing changes.
  const bad = await fetch(`${server.url}/dashboard/faults`, { method: 'POST', body: JSON.stringify({ model: deployment.name, faults: [{ kind: 'delay', instance: 'deployed-0', ms: -5 }] }) });
  t.equal(bad.status, 400);
  t.match(((await bad.json()) as { error: string }).error, /faults\[0\]\.ms: expected a number/);
  t.equal(engine.metrics().faults.length, 1, 'the fault in force is kept');

  // Clear it from the instance's row.
  await row0.getByRole('button', { name: 'Clear' }).click();
  await row0.locator('[data-field="faults"]', { hasText: /^-$/ }).waitFor({ timeout: 30_000 });
  t.same(engine.metrics().faults, [], 'cleared in the engine');
  await page.locator('#load-stop').click();
  await page.locator('[data-field="load-status"]', { hasText: /^finished:/ }).waitFor({ timeout: 30_000 });

  t.same(pageErrors, [], 'no script errors on the page');
  t.same(external, [], 'nothing loaded from outside parm');
});
