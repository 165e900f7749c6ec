/** @type {import('jest').Config} */
// Three tiers (unit, integration, system) run in one `npm test`; system tests need the real
// services that scripts/setup starts, and fail with the fix when those are missing.
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testTimeout: 120000,
  reporters: ['default', '<rootDir>/test/reporters/summary.js'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] },
};
