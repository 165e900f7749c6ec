// The command table: every `volback` command, in help order. A command exists only when the core
// module behind it exists (no stubs).
import type { CommandSpec } from '../framework';
import { backupCommands } from './backup';
import { configCommands } from './config';
import { demoCommands } from './demo';
import { externalCommands } from './external';
import { poolCommands } from './pool';
import { removeCommands } from './remove';
import { repairCommands } from './repair';
import { restoreCommands } from './restore';

export const COMMANDS: readonly CommandSpec[] = [
  ...backupCommands,
  ...restoreCommands,
  ...removeCommands,
  ...repairCommands,
  ...externalCommands,
  ...poolCommands,
  ...configCommands,
  ...demoCommands,
];
