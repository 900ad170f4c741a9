export { coordinatorDoctor, databaseDoctor, homeDoctor, dataDirOf, toReport } from './doctor.ts';
export { diskChecks, DISK_WARN_PERCENT } from './checks/disk.ts';
export { fileModeChecks, SECRET_FILES, CONTROL_FILES } from './checks/files.ts';
export { tlsChecks } from './checks/tls.ts';
export { line as doctorLine } from './checks/check.ts';
