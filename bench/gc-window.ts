// Garbage collections of a benchmark's server process over a window the benchmark chooses
// (bench/throughput.bench.ts): the server children answer `gc-start` and `gc-stop` on stdin, the
// latter with one line {"gc": GcWindow} on stdout. Main thread only (v8.GCProfiler watches the
// isolate it is made in); the instances' threads collect their own small heaps apart.
import v8 from 'node:v8';

export interface GcWindow {
  /** Young-generation collections (scavenges) and their summed pause, ms. */
  minor: number;
  minor_ms: number;
  /** Full mark-compact collections and their summed pause, ms (the incremental marking steps before them in marking_ms). */
  major: number;
  major_ms: number;
  marking_ms: number;
  /** The longest single pause of any kind, ms. */
  longest_ms: number;
}

/** Sums a GCProfiler report by kind of collection. */
export function summarize(report: v8.GCProfilerResult): GcWindow {
  const w: GcWindow = { minor: 0, minor_ms: 0, major: 0, major_ms: 0, marking_ms: 0, longest_ms: 0 };
  for (const s of report.statistics) {
    const ms = s.cost / 1000;
    w.longest_ms = Math.max(w.longest_ms, ms);
    if (s.gcType === 'Scavenge' || s.gcType === 'MinorMarkCompact') {
      w.minor++;
      w.minor_ms += ms;
    } else if (s.gcType === 'MarkSweepCompact') {
      w.major++;
      w.major_ms += ms;
    } else {
      w.marking_ms += ms;
    }
  }
  return w;
}

/**
 * Answers `gc-start` / `gc-stop` lines on this process's stdin (other lines are left to other
 * readers), and exits when stdin ends: the benchmark that started this server has gone (killed,
 * or it crashed), and a server left running would take the CPU of the next benchmark.
 */
export function answerGcCommands(): void {
  let profiler: v8.GCProfiler | null = null;
  let lines = '';
  process.stdin.on('data', (chunk: Buffer) => {
    lines += chunk.toString('utf8');
    for (let nl = lines.indexOf('\n'); nl >= 0; nl = lines.indexOf('\n')) {
      const cmd = lines.slice(0, nl).trim();
      lines = lines.slice(nl + 1);
      if (cmd === 'gc-start') {
        profiler?.stop();
        profiler = new v8.GCProfiler();
        profiler.start();
      } else if (cmd === 'gc-stop') {
        const report = profiler?.stop();
        profiler = null;
        process.stdout.write(`${JSON.stringify({ gc: report ? summarize(report) : null })}\n`);
      }
    }
  });
  process.stdin.on('end', () => process.exit(0));
}
