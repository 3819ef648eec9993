// Preloaded into a child (NODE_OPTIONS=--import, as Node 20 refuses
// --cpu-prof there): profiles the whole process and writes a .cpuprofile
// into BENCH_CPU_PROFILE_DIR when it exits. SIGUSR2 starts it afresh, so
// that a benchmark can profile just its measured window.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.BENCH_CPU_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.start');
  process.on('SIGUSR2', () => {
    session.post('Profiler.stop');
    session.post('Profiler.start');
  });
  // An in-process session answers synchronously, so this works in 'exit'.
  process.on('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (!err) writeFileSync(join(dir, `${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
