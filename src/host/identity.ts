// Who runs this volback process, as records read by other users and hosts name it.
import { hostname, userInfo } from 'node:os';

/** Who runs this process, for records other hosts and users read: user name, host name, pid. */
export const who = (): { user: string; host: string; pid: number } => {
  let user = String(process.getuid?.() ?? '?');
  try {
    user = userInfo().username;
  } catch {
    /* uid without a passwd entry */
  }
  return { user, host: hostname(), pid: process.pid };
};
