/* source/yaml.h : Kubernetes manifests (YAML or JSON) into JSON values.
 *
 * Kubernetes objects are JSON; YAML is its common spelling. A document is
 * turned into the JSON value it denotes: mappings to objects (keys must be
 * scalars), sequences to arrays, scalars by the YAML 1.2 core schema (null,
 * true/false, integers, floats; everything else and every quoted scalar is
 * a string). Aliases are expanded, within a node budget, so a "billion
 * laughs" file is an error rather than an out-of-memory. The only file that
 * includes yaml.h (libyaml).
 */
#ifndef ALB_SOURCE_YAML_H
#define ALB_SOURCE_YAML_H

#include <jansson.h>
#include <stddef.h>

/* At most this many values in one file, aliases expanded. */
#define ALB_YAML_MAX_NODES 1000000

/* alb_yaml_load() : every document of text[0..len) as a JSON array (empty
 * documents are skipped). NULL with err[] as "line L column C: what". */
json_t *alb_yaml_load(const char *text, size_t len, char *err, size_t err_len);

#endif
