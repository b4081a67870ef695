#!/usr/bin/env node
// Verify Qalqan object signatures (docs/signing.md, format v1) without Qalqan:
// Node.js 18+ and its built-in crypto (Ed25519), no npm packages.
//
//   node verify.mjs FILE [--card CARD.json]... [--public-key B64U] [--signing-input]
//
// FILE holds one STIX object or a bundle. Keys come from, in this order of preference:
//   --public-key B64U   one raw Ed25519 key (base64url, 43 characters)
//   --card CARD.json    a node's card you pinned after checking its fingerprint (`qalqan card
//                       --fingerprint` on that node, compared out of band)
//   the cards in FILE   only when neither option is given: a card then vouches for itself, so
//                       the fingerprint printed must still be compared out of band
// --signing-input prints the signing input of each signed object (the bytes that are signed).
// Exit status: 0 when every signed object verifies (and there is at least one), 1 otherwise.
// Not done here (a node does them on receipt): rejecting duplicate JSON keys, SCO id checks,
// JSON Schema checks of the extensions, card rotation history.
import { createHash, createPublicKey, verify } from "node:crypto";
import { readFileSync } from "node:fs";

const SIGNATURE_EXT = "extension-definition--0eeeb1ca-f6b2-4576-b5a8-c210822873ab";
const NODE_KEYS_EXT = "extension-definition--c5ae75e5-432e-4f1b-b912-5676bc4f66e2";

// RFC 8785: keys sorted by UTF-16 code units (JavaScript's default sort), no whitespace,
// strings and numbers exactly as JSON.stringify writes them.
export function canonicalize(value) {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return "[" + value.map(canonicalize).join(",") + "]";
  return "{" + Object.keys(value).sort()
    .map((key) => JSON.stringify(key) + ":" + canonicalize(value[key])).join(",") + "}";
}

// Strict base64url: the alphabet only, no padding, and the text must be exactly what encoding
// the decoded bytes gives again (signing.md, "One encoding per signature").
export function b64uDecode(text, bytes) {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text)) throw new Error("not base64url");
  const raw = Buffer.from(text, "base64url");
  if (raw.toString("base64url") !== text) throw new Error("not the one encoding of its bytes");
  if (bytes !== undefined && raw.length !== bytes) throw new Error(`expected ${bytes} bytes, got ${raw.length}`);
  return raw;
}

export function keyIdOf(rawPublicKey) {
  return "sha256:" + createHash("sha256").update(rawPublicKey).digest("hex");
}

function publicKeyFrom(rawPublicKey) {
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: rawPublicKey.toString("base64url") }, format: "jwk" });
}

export function signingInput(obj) {
  const copy = structuredClone(obj);
  delete copy.extensions[SIGNATURE_EXT].signature.value;
  return Buffer.from(canonicalize(copy), "utf8");
}

// Key id -> {identity, raw, revoked} from the node-keys extension of a card.
export function keysOfCard(card) {
  const keys = new Map();
  for (const entry of card?.extensions?.[NODE_KEYS_EXT]?.keys ?? []) {
    const raw = b64uDecode(entry.public_key, 32);
    if (keyIdOf(raw) !== entry.key_id) throw new Error(`card ${card.id}: key_id does not match its public_key`);
    keys.set(entry.key_id, { identity: card.id, raw, revoked: entry.revoked ?? null });
  }
  return keys;
}

// Throws with the reason when `obj` does not verify; returns its signature object when it does.
export function verifyObject(obj, keys) {
  const sig = obj?.extensions?.[SIGNATURE_EXT]?.signature;
  if (!sig) throw new Error("not signed");
  if (sig.algorithm !== "Ed25519") throw new Error(`algorithm ${sig.algorithm} is not Ed25519`);
  if (sig.canonicalization !== "RFC8785") throw new Error(`canonicalization ${sig.canonicalization} is not RFC8785`);
  if (sig.signer !== obj.created_by_ref) throw new Error("signer is not the object's created_by_ref");
  const key = keys.get(sig.key_id);
  if (!key) throw new Error(`key ${sig.key_id} is not among the keys given`);
  if (key.identity !== null && key.identity !== sig.signer) throw new Error(`key ${sig.key_id} belongs to ${key.identity}`);
  const stamp = obj.modified ?? obj.created;
  if (key.revoked && stamp && Date.parse(stamp) >= Date.parse(key.revoked)) throw new Error(`key ${sig.key_id} was revoked`);
  const value = b64uDecode(sig.value, 64);
  if (!verify(null, signingInput(obj), publicKeyFrom(key.raw), value)) throw new Error("the signature does not verify");
  return sig;
}

function isCard(obj) {
  return obj?.type === "identity" && obj?.extensions?.[NODE_KEYS_EXT] !== undefined;
}

function main(argv) {
  const cards = [], files = [];
  let publicKey = null, printInput = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--card") cards.push(JSON.parse(readFileSync(argv[++i], "utf8")));
    else if (argv[i] === "--public-key") publicKey = argv[++i];
    else if (argv[i] === "--signing-input") printInput = true;
    else files.push(argv[i]);
  }
  if (files.length !== 1) {
    console.error("usage: node verify.mjs FILE [--card CARD.json]... [--public-key B64U] [--signing-input]");
    return 2;
  }
  const data = JSON.parse(readFileSync(files[0], "utf8"));
  const objects = data.type === "bundle" ? data.objects : [data];
  const keys = new Map();
  if (publicKey !== null) {
    const raw = b64uDecode(publicKey, 32);
    keys.set(keyIdOf(raw), { identity: null, raw, revoked: null });
  }
  for (const card of cards) for (const [id, key] of keysOfCard(card)) keys.set(id, key);
  if (publicKey === null && cards.length === 0) {
    for (const card of objects.filter(isCard)) {
      for (const [id, key] of keysOfCard(card)) keys.set(id, key);
      console.log(`using the card in the file for ${card.id} (${card.name}): compare its fingerprint out of band`);
    }
  }
  let verified = 0, failed = 0;
  for (const obj of objects) {
    if (!obj?.extensions?.[SIGNATURE_EXT]) {
      console.log(`SKIP ${obj?.id}: not signed (an SCO or a well-known object)`);
      continue;
    }
    try {
      const sig = verifyObject(obj, keys);
      verified++;
      console.log(`OK   ${obj.id}: signed by ${sig.signer} with ${sig.key_id}`);
      if (printInput) console.log(signingInput(obj).toString("utf8"));
    } catch (error) {
      failed++;
      console.log(`FAIL ${obj?.id}: ${error.message}`);
    }
  }
  console.log(`${verified} verified, ${failed} failed`);
  return failed === 0 && verified > 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main(process.argv.slice(2));
