/** Shared pieces of the `bench:*` scripts. */
import { join } from 'node:path'

const BENCHMARKS_FILE = join(import.meta.dir, '..', 'docs', 'benchmarks.md')

const HEADER = [
  '# Benchmarks',
  '',
  'Written by the `bun run bench:*` scripts; each script replaces its own section. The figures',
  'come from the machine the script last ran on, which the section names.',
  '',
].join('\n')

/** A TCP port that was free a moment ago on the loopback interface. */
export const freePort = async (): Promise<number> => {
  const probe = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const { port } = probe
  probe.stop(true)
  return port
}

/** Waits until `url` answers, or fails with the server's output if the server exits first. */
export const waitForHttp = async (
  url: string,
  server: { exited: Promise<number>; stderr: ReadableStream<Uint8Array> | number | undefined },
): Promise<void> => {
  let exited = false
  void server.exited.then(() => (exited = true))
  for (;;) {
    if (exited) {
      const output =
        server.stderr instanceof ReadableStream ? await new Response(server.stderr).text() : ''
      throw new Error(`the server exited before answering:\n${output}`)
    }
    try {
      const response = await fetch(url)
      if (response.ok) {
        return
      }
    } catch {
      // not listening yet
    }
    await Bun.sleep(50)
  }
}

/** Replaces (or appends) the `## title` section of docs/benchmarks.md with `body`. */
export const updateBenchmarkSection = async (title: string, body: string): Promise<void> => {
  const file = Bun.file(BENCHMARKS_FILE)
  const text = (await file.exists()) ? await file.text() : HEADER
  const heading = `## ${title}`
  const section = `${heading}\n\n${body.trim()}\n`
  const start = text.indexOf(heading)
  if (start === -1) {
    await Bun.write(BENCHMARKS_FILE, `${text.trimEnd()}\n\n${section}`)
    return
  }
  const next = text.indexOf('\n## ', start + heading.length)
  const rest = next === -1 ? '' : text.slice(next)
  await Bun.write(BENCHMARKS_FILE, `${text.slice(0, start)}${section}${rest}`)
}
