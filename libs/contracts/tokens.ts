import { z } from 'zod';
import { isStorableText, UNSTORABLE_TEXT } from './intent.ts';

export const Role = z.enum(['operator', 'agent', 'viewer']);
export type Role = z.infer<typeof Role>;

export const CreateTokenBody = z.strictObject({
  role: Role,
  name: z.string().min(1).max(200).refine(isStorableText, UNSTORABLE_TEXT).optional(),
});
export type CreateTokenBody = z.infer<typeof CreateTokenBody>;

export const CreatedToken = z.object({
  id: z.string(),
  role: Role,
  name: z.string().nullable(),
  token: z.string(),
  createdAt: z.string(),
});
export type CreatedToken = z.infer<typeof CreatedToken>;
