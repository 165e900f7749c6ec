// src/xml's public surface: parse, validate and format volback's two documents. xml2js stays inside.
export { parseBackupDefinition, formatBackupDefinition } from './backup-definition';
export {
  parseBackupSet,
  parseBackupSets,
  formatBackupSet,
  BACKUP_SET_FORMAT_VERSION,
  type BackupSetResult,
} from './backup-metadata';
export {
  validateXml,
  assertValidXml,
  validateMany,
  checkXmllint,
  resolveSchemaDir,
  schemaFile,
  xmllintArgv,
  parseXmllintStderr,
  XMLLINT_HINT,
  type SchemaName,
  type ValidationResult,
  type XmllintOptions,
  type BatchOptions,
} from './validate';
export * as names from './names';
