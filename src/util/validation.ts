// The result of a validator, shared by the record, check and address parsers.

/** Outcome of one field validator: the normalized value, or a reason that names the field. */
export type Validation<T> = { ok: true; value: T } | { ok: false; reason: string };
