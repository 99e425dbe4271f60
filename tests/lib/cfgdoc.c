/* configs/README.md against the config key tables (see cfgdoc.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgdoc.h"

#define CFGDOC_MAX	(1 << 17)	/* README size read */

int
cfgdoc_missing(const char *src_root, const struct ns_cfg_section *sec)
{
	char path[1024], head[64], row[192];
	const char *start, *end;
	char *doc;
	size_t n;
	int missing = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/configs/README.md", src_root);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	doc = malloc(CFGDOC_MAX);
	if (doc == NULL) {
		fclose(f);
		return -1;
	}
	n = fread(doc, 1, CFGDOC_MAX - 1, f);
	doc[n] = '\0';
	fclose(f);

	snprintf(head, sizeof(head), "## `[%s", sec->name);
	start = strstr(doc, head);
	if (start == NULL) {
		fprintf(stderr, "configs/README.md: no heading '%s'\n", head);
		free(doc);
		return (int)sec->n_keys;
	}
	end = strstr(start + 1, "\n## ");
	for (unsigned int k = 0; k < sec->n_keys; k++) {
		const struct ns_cfg_key *key = &sec->keys[k];
		const char *at;

		if (key->def == NULL)
			snprintf(row, sizeof(row), "| `%s` | (none", key->name);
		else if (key->def[0] == '\0')
			snprintf(row, sizeof(row), "| `%s` | (empty) |", key->name);
		else
			snprintf(row, sizeof(row), "| `%s` | `%s` |", key->name, key->def);
		at = strstr(start, row);
		if (at == NULL || (end != NULL && at > end)) {
			fprintf(stderr, "configs/README.md [%s] lacks the row '%s'\n",
				sec->name, row);
			missing++;
		}
	}
	free(doc);
	return missing;
}
