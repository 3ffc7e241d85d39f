/**
 * Locates the external programs the end-to-end harness drives (Debian's `docker-registry` and
 * `skopeo`). A missing program is a hard failure with the command that installs it: the
 * end-to-end suites must never pass by silently skipping.
 */

/** The command that installs every program the harness needs. */
export const INSTALL_HINT = 'apt-get install -y docker-registry skopeo'

/**
 * Returns the absolute path of `name` on `PATH`.
 *
 * @throws Error naming the program and the install command when it is not installed.
 */
export function requireTool(name: string, path = process.env.PATH): string {
  const found = Bun.which(name, { PATH: path ?? '' })
  if (found === null) {
    throw new Error(
      `${name} is not installed (not found on PATH); the end-to-end tests need it. ` +
        `Install it with: ${INSTALL_HINT}`,
    )
  }

  return found
}
