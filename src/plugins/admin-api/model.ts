import { t, type Static } from 'elysia'

import type { AccessRule, Group, RefreshToken, User } from '../../core/store.ts'

// Request bodies accept `null` where react-admin sends it for a cleared input; the services
// read `null` as "not given" for flags and numbers and as '' for free text.

const MAX_ID = Number.MAX_SAFE_INTEGER

const Text = t.String()
const OptionalText = t.Optional(t.Union([t.String(), t.Null()]))
const OptionalFlag = t.Optional(t.Union([t.Boolean(), t.Null()]))
const OptionalGroupId = t.Optional(t.Union([t.Integer({ minimum: 0, maximum: MAX_ID }), t.Null()]))
/** Clients echo the record's id back; it is compared with the URL and otherwise ignored. */
const EchoedId = t.Optional(t.Unknown())

/** `POST /api/v1/users`. `password` is required here; `group` 0 or absent means group 1. */
export const UserCreateBody = t.Object({
  id: EchoedId,
  login: Text,
  name: Text,
  password: Text,
  role: Text,
  group: OptionalGroupId,
  blocked: OptionalFlag,
  description: OptionalText,
})
export type UserCreateBody = Static<typeof UserCreateBody>

/**
 * `PUT /api/v1/users/:id`: every field is optional and an absent one keeps its value. An absent,
 * null or empty `password` keeps the password. `login` may be sent but must not change.
 */
export const UserUpdateBody = t.Object({
  id: EchoedId,
  login: OptionalText,
  name: OptionalText,
  password: OptionalText,
  role: OptionalText,
  group: OptionalGroupId,
  blocked: OptionalFlag,
  description: OptionalText,
})
export type UserUpdateBody = Static<typeof UserUpdateBody>

/** `POST /api/v1/users/me/password`. */
export const PasswordChangeBody = t.Object({
  current_password: Text,
  new_password: Text,
})
export type PasswordChangeBody = Static<typeof PasswordChangeBody>

export const GroupCreateBody = t.Object({
  id: EchoedId,
  name: Text,
  description: OptionalText,
})
export type GroupCreateBody = Static<typeof GroupCreateBody>

export const GroupUpdateBody = t.Object({
  id: EchoedId,
  name: OptionalText,
  description: OptionalText,
})
export type GroupUpdateBody = Static<typeof GroupUpdateBody>

const OwnerId = t.Integer({ minimum: -MAX_ID, maximum: MAX_ID })

/** `POST /api/v1/access`. `type` defaults to `repository`, `is_group` and `disabled` to false. */
export const AccessCreateBody = t.Object({
  id: EchoedId,
  owner_id: OwnerId,
  is_group: OptionalFlag,
  name: Text,
  type: OptionalText,
  resource_name: Text,
  action: Text,
  disabled: OptionalFlag,
})
export type AccessCreateBody = Static<typeof AccessCreateBody>

/** `PUT /api/v1/access/:id`: every field is optional and an absent one keeps its value. */
export const AccessUpdateBody = t.Object({
  id: EchoedId,
  owner_id: t.Optional(OwnerId),
  is_group: OptionalFlag,
  name: OptionalText,
  type: OptionalText,
  resource_name: OptionalText,
  action: OptionalText,
  disabled: OptionalFlag,
})
export type AccessUpdateBody = Static<typeof AccessUpdateBody>

/** `POST /auth/local/login`, as JSON or as a form. `aud` is accepted and ignored. */
export const LoginBody = t.Object({
  user: Text,
  passwd: Text,
  aud: t.Optional(t.Unknown()),
})
export type LoginBody = Static<typeof LoginBody>

/** A user as the API shows it. There is no `password` field: hashes never leave the server. */
export const UserJson = t.Object({
  id: t.Integer(),
  name: t.String(),
  login: t.String(),
  role: t.String(),
  group: t.Integer(),
  blocked: t.Boolean(),
  description: t.String(),
})
export type UserJson = Static<typeof UserJson>

export const GroupJson = t.Object({
  id: t.Integer(),
  name: t.String(),
  description: t.String(),
})
export type GroupJson = Static<typeof GroupJson>

export const AccessJson = t.Object({
  id: t.Integer(),
  owner_id: t.Integer(),
  is_group: t.Boolean(),
  name: t.String(),
  type: t.String(),
  resource_name: t.String(),
  action: t.String(),
  disabled: t.Boolean(),
})
export type AccessJson = Static<typeof AccessJson>

/** A refresh token as listed; times are RFC 3339 strings. */
export const RefreshTokenJson = t.Object({
  id: t.Integer(),
  service: t.String(),
  client_id: t.String(),
  created_at: t.String(),
  expires_at: t.String(),
  last_used_at: t.Union([t.String(), t.Null()]),
})
export type RefreshTokenJson = Static<typeof RefreshTokenJson>

/** The user object of the UI session, as the Go tool's auth library shaped it. */
export const SessionUserJson = t.Object({
  name: t.String(),
  id: t.String(),
  picture: t.String(),
  attrs: t.Object({ disabled: t.Boolean(), uid: t.Integer() }),
  role: t.String(),
})
export type SessionUserJson = Static<typeof SessionUserJson>

/** The envelope of every non-list admin API answer. */
export interface ItemEnvelope<T> {
  error: false
  message: string
  id: number
  data: T
}

/** The body of a list answer; `data` is always an array. */
export interface ListEnvelope<T> {
  total: number
  data: T[]
}

export const envelope = <T>(message: string, id: number, data: T): ItemEnvelope<T> => ({
  error: false,
  message,
  id,
  data,
})

/** Picks the public fields of a user; anything else the object carries (a hash) is dropped. */
export const toUserJson = (user: User): UserJson => ({
  id: user.id,
  name: user.name,
  login: user.login,
  role: user.role,
  group: user.group,
  blocked: user.disabled,
  description: user.description,
})

export const toGroupJson = (group: Group): GroupJson => ({
  id: group.id,
  name: group.name,
  description: group.description,
})

export const toAccessJson = (rule: AccessRule): AccessJson => ({
  id: rule.id,
  owner_id: rule.ownerId,
  is_group: rule.isGroup,
  name: rule.name,
  type: rule.resourceType,
  resource_name: rule.resourceName,
  action: rule.action,
  disabled: rule.disabled,
})

export const toRefreshTokenJson = (token: RefreshToken): RefreshTokenJson => ({
  id: token.id,
  service: token.service,
  client_id: token.clientId,
  created_at: rfc3339(token.createdAt),
  expires_at: rfc3339(token.expiresAt),
  last_used_at: token.lastUsedAt === null ? null : rfc3339(token.lastUsedAt),
})

const rfc3339 = (unixSeconds: number): string =>
  new Date(unixSeconds * 1000).toISOString().replace('.000Z', 'Z')
