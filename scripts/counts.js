// Pass/fail counts of the two kinds of test run, read the same way by every runner script (npm test,
// test:arm64, test:no-openmp): the native test executables' closing line "N passed, N failed", and
// vitest's JSON report. A run that crashed or failed without saying so counts as one failure.
// CLI (for the shell scripts), each printing "<passed> <failed>":
//   node scripts/counts.js native <exit status>  < its stdout
//   node scripts/counts.js vitest <report.json> <exit status>   (skipped tests listed on stderr)
'use strict';
const fs = require('fs');
const path = require('path');

/** Counts from a native test executable's output and exit status. */
function nativeCounts(stdout, status) {
  const m = /(\d+) passed, (\d+) failed/.exec(stdout);
  const passed = m ? Number(m[1]) : 0;
  let failed = m ? Number(m[2]) : 0;
  if (!m || (status !== 0 && failed === 0)) failed += 1; // crashed, or failed without saying
  return { passed, failed };
}

/** Counts from vitest's JSON report (and vitest's exit status); the names of the skipped tests. */
function vitestCounts(file, status) {
  let report;
  try {
    report = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    return { passed: 0, failed: 1, skipped: [], error: `could not read vitest's JSON report: ${e.message}` };
  }
  const files = report.testResults || [];
  let failed = report.numFailedTests;
  // A suite that failed to load has no failed tests of its own: count it.
  failed += files.filter((f) => f.status === 'failed' && (f.assertionResults || []).length === 0).length;
  if (status !== 0 && failed === 0) failed += 1;
  const skipped = files.flatMap((f) =>
    (f.assertionResults || [])
      .filter((a) => ['skipped', 'pending', 'todo'].includes(a.status))
      .map((a) => `${path.basename(f.name)} > ${a.fullName}`),
  );
  return { passed: report.numPassedTests, failed, skipped };
}

module.exports = { nativeCounts, vitestCounts };

if (require.main === module) {
  const [kind, ...args] = process.argv.slice(2);
  let c;
  if (kind === 'native') c = nativeCounts(fs.readFileSync(0, 'utf8'), Number(args[0]));
  else if (kind === 'vitest') c = vitestCounts(args[0], Number(args[1]));
  else {
    console.error('usage: counts.js native <status> < stdout | counts.js vitest <report.json> <status>');
    process.exit(2);
  }
  if (c.error) console.error(c.error);
  for (const s of c.skipped || []) console.error(`skipped test: ${s}`);
  console.log(`${c.passed} ${c.failed}`);
}
