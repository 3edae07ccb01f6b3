import { join } from 'node:path';

/**
 * The folder of the scripts the launchers run in child processes (dynalite, s3rver with its
 * conditional layer, moto's serial runner, mongo-java-server's main class): `servers/` beside
 * `dist/`, resolved from the compiled file, so it holds for any consumer's working folder.
 */
export const SERVERS = join(__dirname, '..', 'servers');
