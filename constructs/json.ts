/** A JSON value as state holds it: no undefined, functions, NaN/Infinity, or class instances. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** The state a component may declare: a JSON object. */
export type StateShape = object;
