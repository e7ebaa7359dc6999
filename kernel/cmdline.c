/*
 * kernel/cmdline.c - the command-line parser.
 *
 * Words are separated by spaces; each is `key=value` or a bare `key` (for a
 * boolean, "on"). Every word is checked against the registered options;
 * a word that matches none, or whose value does not fit the option's type,
 * produces one message and changes nothing. Parsing never stops early, so
 * one mistake does not hide the options after it.
 */
#include <cmdline.h>
#include <printf.h>
#include <printk.h>
#include <string.h>

extern const struct cmdline_opt __cmdline_opts_start[], __cmdline_opts_end[];

#define WORD_MAX 1024	/* a word: key=value (a grade run's ktest= lists cases) */

static const struct cmdline_opt *find(const struct cmdline_opt *opts, size_t n,
				      const char *key, size_t keylen)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(opts[i].key) == keylen && strncmp(opts[i].key, key, keylen) == 0)
			return &opts[i];
	return NULL;
}

static bool parse_uint(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	unsigned base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned d;
		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return false;
		if (v > (UINT64_MAX - d) / base)
			return false;	/* overflow */
		v = v * base + d;
	}
	*out = v;
	return true;
}

static int choice_index(const char *const *choices, const char *s, size_t len)
{
	for (int i = 0; choices[i]; i++)
		if (strlen(choices[i]) == len && strncmp(choices[i], s, len) == 0)
			return i;
	return -1;
}

/* "a|b|c" for messages */
static void list_choices(const char *const *choices, char *buf, size_t size)
{
	size_t pos = 0;
	buf[0] = '\0';
	for (int i = 0; choices[i] && pos < size; i++)
		pos += (size_t)snprintf(buf + pos, size - pos, "%s%s", i ? "|" : "", choices[i]);
}

/* Applies one value; on a problem writes a message into msg and returns false. */
static bool apply(const struct cmdline_opt *o, const char *val, bool has_val,
		  char *msg, size_t msgsize)
{
	char choices[160];
	switch (o->type) {
	case CMDLINE_T_BOOL: {
		static const char *const yes[] = { "1", "on", "yes", "true", NULL };
		static const char *const no[] = { "0", "off", "no", "false", NULL };
		bool v;
		if (!has_val || choice_index(yes, val, strlen(val)) >= 0)
			v = true;
		else if (choice_index(no, val, strlen(val)) >= 0)
			v = false;
		else {
			snprintf(msg, msgsize, "bad value '%s' for %s (expected on or off)", val, o->key);
			return false;
		}
		*(bool *)o->var = v;
		return true;
	}
	case CMDLINE_T_UINT: {
		uint64_t v;
		if (!has_val || !parse_uint(val, &v)) {
			snprintf(msg, msgsize, "bad value '%s' for %s (expected a number)", val, o->key);
			return false;
		}
		if (v < o->min || v > o->max) {
			snprintf(msg, msgsize, "value %lu for %s is out of range [%lu, %lu]", v, o->key,
				 o->min, o->max);
			return false;
		}
		*(uint64_t *)o->var = v;
		return true;
	}
	case CMDLINE_T_ENUM: {
		int i = has_val ? choice_index(o->choices, val, strlen(val)) : -1;
		if (i < 0) {
			list_choices(o->choices, choices, sizeof(choices));
			snprintf(msg, msgsize, "bad value '%s' for %s (expected %s)", val, o->key, choices);
			return false;
		}
		*(int *)o->var = i;
		return true;
	}
	case CMDLINE_T_STRING:
		if (!has_val || strlen(val) >= o->max) {
			snprintf(msg, msgsize, "bad value for %s (expected a string of 1 to %lu characters)",
				 o->key, o->max - 1);
			return false;
		}
		strlcpy(o->var, val, o->max);
		return true;
	case CMDLINE_T_LIST: {
		/* Every name is checked before any is applied: all or nothing. */
		uint64_t set = 0;
		const char *p = val;
		if (!has_val || !*val) {
			snprintf(msg, msgsize, "%s needs a value", o->key);
			return false;
		}
		while (*p) {
			const char *comma = strchr(p, ',');
			size_t len = comma ? (size_t)(comma - p) : strlen(p);
			int i = choice_index(o->choices, p, len);
			if (i < 0) {
				list_choices(o->choices, choices, sizeof(choices));
				snprintf(msg, msgsize, "unknown name '%.*s' in %s (known: %s)", (int)len, p,
					 o->key, choices[0] ? choices : "none in this build");
				return false;
			}
			set |= 1ULL << i;
			p += len + (comma ? 1 : 0);
		}
		*(uint64_t *)o->var |= set;
		return true;
	}
	}
	return false;
}

int cmdline_parse(const char *line, const struct cmdline_opt *opts, size_t n,
		  void (*report)(const char *msg))
{
	char word[WORD_MAX], msg[256];
	int problems = 0;
	bool first = true;

	while (*line) {
		while (*line == ' ' || *line == '\t')
			line++;
		if (!*line)
			break;
		size_t len = 0;
		while (line[len] && line[len] != ' ' && line[len] != '\t')
			len++;
		bool too_long = len >= sizeof(word);
		strlcpy(word, line, MIN(len + 1, sizeof(word)));
		line += len;

		char *eq = strchr(word, '=');
		if (first && !eq && strchr(word, '/')) {
			first = false;	/* the kernel's own path, from the loader */
			continue;
		}
		first = false;
		if (too_long) {
			snprintf(msg, sizeof(msg), "word '%.32s...' is longer than %zu characters (ignored)",
				 word, sizeof(word) - 1);
			report(msg);
			problems++;
			continue;
		}
		size_t keylen = eq ? (size_t)(eq - word) : strlen(word);
		const struct cmdline_opt *o = find(opts, n, word, keylen);
		if (!o) {
			snprintf(msg, sizeof(msg), "unknown key '%.*s' (ignored)", (int)keylen, word);
			report(msg);
			problems++;
			continue;
		}
		if (!apply(o, eq ? eq + 1 : "", eq != NULL, msg, sizeof(msg))) {
			size_t l = strlen(msg);
			snprintf(msg + l, sizeof(msg) - l, "; ignored");
			report(msg);
			problems++;
		}
	}
	return problems;
}

static void report_console(const char *msg)
{
	printk("cmdline: %s\n", msg);
}

void cmdline_init(const char *line)
{
	size_t n = (size_t)(__cmdline_opts_end - __cmdline_opts_start);
	printk("cmdline: '%s'\n", line);
	int problems = cmdline_parse(line, __cmdline_opts_start, n, report_console);
	if (problems)
		printk("cmdline: %d problem%s; the boot goes on with the defaults for those\n",
		       problems, problems == 1 ? "" : "s");
}

void cmdline_print_options(void)
{
	size_t n = (size_t)(__cmdline_opts_end - __cmdline_opts_start);
	for (size_t i = 0; i < n; i++) {
		const struct cmdline_opt *o = &__cmdline_opts_start[i];
		char choices[160] = "";
		if (o->choices)
			list_choices(o->choices, choices, sizeof(choices));
		printk("  %-20s %s%s%s%s\n", o->key, o->help, choices[0] ? " (" : "", choices,
		       choices[0] ? ")" : "");
	}
}
