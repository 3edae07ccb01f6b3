// The shared preset, with a larger per-test backstop: the SQS tests start real processes and
// wait for conditions (never for time), which on a loaded 2-core machine can take minutes.
module.exports = { ...require('../../jest.preset.cjs'), testTimeout: 300_000 };
