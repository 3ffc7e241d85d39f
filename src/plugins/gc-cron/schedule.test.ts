import { afterEach, describe, expect, spyOn, test } from 'bun:test'
import pino from 'pino'

import { MirrorService } from '../../core/mirror/index.ts'
import { fakeMirrorStore, FakeRegistry, pushImage } from '../../core/mirror/test-fakes.ts'
import { SyncSchedule } from './schedule.ts'

const mirrorWith = (registry: FakeRegistry | null) =>
  new MirrorService({
    store: fakeMirrorStore(),
    registry,
    log: pino({ level: 'silent' }),
    ownActors: [],
    pushConfirmDelaysMs: [],
  })

/** A logger that keeps its warnings. */
const recording = () => {
  const warnings: string[] = []
  const log = pino({ level: 'silent' })
  log.warn = ((message: string) => void warnings.push(message)) as typeof log.warn
  return { log, warnings }
}

const spies: { mockRestore(): void }[] = []
afterEach(() => spies.splice(0).forEach((spy) => spy.mockRestore()))

describe('SyncSchedule', () => {
  test('syncs at once on start, then every interval on an unref-ed timer', async () => {
    const registry = new FakeRegistry()
    pushImage(registry, 'ns/app', '1.0')
    const mirror = mirrorWith(registry)
    const setTimer = spyOn(globalThis, 'setInterval')
    spies.push(setTimer)
    const schedule = new SyncSchedule({
      mirror,
      intervalMinutes: 15,
      log: pino({ level: 'silent' }),
    })

    schedule.start()
    const running = mirror.syncStatus().running
    await mirror.syncDone()
    const timer = setTimer.mock.results[0]?.value as ReturnType<typeof setInterval>
    schedule.stop()

    expect([running, setTimer.mock.calls[0]?.[1], timer.hasRef(), schedule.active]).toEqual([
      true,
      15 * 60_000,
      false,
      false,
    ])
    expect(mirror.syncStatus().sync?.added).toBe(1)
  })

  test('clears its timer on stop', () => {
    const mirror = mirrorWith(new FakeRegistry())
    const clearTimer = spyOn(globalThis, 'clearInterval')
    spies.push(clearTimer)
    const schedule = new SyncSchedule({
      mirror,
      intervalMinutes: 60,
      log: pino({ level: 'silent' }),
    })
    schedule.start()

    schedule.stop()

    expect(clearTimer).toHaveBeenCalledTimes(1)
  })

  test('warns once and schedules nothing without a registry', () => {
    const { log, warnings } = recording()
    const setTimer = spyOn(globalThis, 'setInterval')
    spies.push(setTimer)
    const schedule = new SyncSchedule({ mirror: mirrorWith(null), intervalMinutes: 60, log })

    schedule.start()

    expect([warnings, setTimer.mock.calls.length, schedule.active]).toEqual([
      ['the repository sync is off: registry.host is not set'],
      0,
      false,
    ])
  })

  test('skips a sync at start when the registry is not up yet, without failing', async () => {
    const registry = new FakeRegistry()
    registry.fail('listRepositories', 'refused')
    const mirror = mirrorWith(registry)
    const schedule = new SyncSchedule({
      mirror,
      intervalMinutes: 60,
      log: pino({ level: 'silent' }),
    })

    schedule.start()
    await mirror.syncDone()
    schedule.stop()

    expect(mirror.syncStatus().sync?.errors).toEqual([
      { repository: null, message: 'connection refused' },
    ])
  })
})
