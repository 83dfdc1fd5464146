/* Key-value commands and answers as text and JSON, for people and scripts
 * (distlab trace, distlab client, reports). */
#ifndef DL_SRC_KVTEXT_H
#define DL_SRC_KVTEXT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "nodes/kv.h"

/* Bytes as a JSON string: as they are when they are UTF-8 without NUL
 * (jansson escapes what JSON needs), else with every byte that is not
 * printable as \xNN (*escaped set; it may be NULL). NULL: out of memory. */
json_t *kvtext_json(const uint8_t *p, size_t len, int *escaped);
/* Bytes for a terminal: printable ones as they are, the rest as \xNN, in
 * double quotes when empty or holding a space, shortened past max bytes
 * (0: no limit) with "...(N bytes)". Returns out. */
const char *kvtext_quote(char *out, size_t cap, const uint8_t *p, size_t len, size_t max);
/* A command as one line, e.g. `cas lock "" c1`. */
const char *kvtext_cmd(char *out, size_t cap, const struct kv_cmd *c, size_t max);
/* The fields of a command into a JSON object: op, key, value (put and
 * append: the value; cas: the new value) and expect (cas: the old one). */
void kvtext_cmd_fields(json_t *o, const struct kv_cmd *c);
/* The fields of an answer (status byte, value) into o: status, and
 * value (get) or current (cas mismatch). A malformed answer: status
 * "malformed". */
void kvtext_answer_fields(json_t *o, int op, const uint8_t *ans, size_t len);

#endif
