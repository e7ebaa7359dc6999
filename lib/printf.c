/*
 * lib/printf.c - the formatter behind printk and snprintf.
 *
 * One pass over the format: collect flags, width, precision and length for
 * each conversion into a struct spec, turn the argument into digits in a
 * small buffer, then emit padding, sign/prefix, zeros and digits in the order
 * the flags ask for. Output goes through a callback, so the same code feeds
 * the console (printk) and strings (snprintf) without a buffer in between.
 */
#include <printf.h>
#include <string.h>

struct spec {
	bool left;		/* '-': pad on the right */
	bool zero;		/* '0': pad with zeros (ignored with '-' or precision) */
	bool plus;		/* '+': sign on positive numbers */
	bool space;		/* ' ': space in place of a '+' */
	bool alt;		/* '#': 0x / 0 prefix */
	int width;		/* minimum field width, 0 if none */
	int prec;		/* precision, -1 if none */
};

struct out {
	fmt_putc_fn putc;
	void *ctx;
	int count;
};

static void emit(struct out *o, char c)
{
	o->putc(c, o->ctx);
	o->count++;
}

static void emit_n(struct out *o, char c, int n)
{
	while (n-- > 0)
		emit(o, c);
}

/* Emits a string field: padding and at most prec characters of s. */
static void emit_str(struct out *o, const struct spec *sp, const char *s)
{
	if (!s)
		s = "(null)";
	int len = (int)(sp->prec >= 0 ? strnlen(s, (size_t)sp->prec) : strlen(s));
	if (!sp->left)
		emit_n(o, ' ', sp->width - len);
	for (int i = 0; i < len; i++)
		emit(o, s[i]);
	if (sp->left)
		emit_n(o, ' ', sp->width - len);
}

/*
 * Emits a number: value is the magnitude, neg its sign (signed conversions
 * only), base 8, 10 or 16; prefix is "0x"/"0X"/"0" or "".
 */
static void emit_num(struct out *o, const struct spec *sp, uint64_t value,
		     bool neg, unsigned base, bool upper, const char *prefix)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char buf[24];		/* 2^64 in octal is 22 digits */
	int n = 0;

	/* C: precision 0 with value 0 prints no digits at all */
	if (!(value == 0 && sp->prec == 0)) {
		do {
			buf[n++] = digits[value % base];
			value /= base;
		} while (value);
	}

	char sign = neg ? '-' : sp->plus ? '+' : sp->space ? ' ' : 0;
	int plen = (int)strlen(prefix);
	int zeros = sp->prec > n ? sp->prec - n : 0;
	if (base == 8 && *prefix && zeros > 0)
		plen = 0;	/* "%#.3o": the leading zero is already there */
	int body = (sign ? 1 : 0) + plen + zeros + n;
	int pad = sp->width > body ? sp->width - body : 0;

	if (sp->zero && !sp->left && sp->prec < 0) {
		zeros += pad;	/* zero-padding goes between sign and digits */
		pad = 0;
	}
	if (!sp->left)
		emit_n(o, ' ', pad);
	if (sign)
		emit(o, sign);
	for (int i = 0; i < plen; i++)
		emit(o, prefix[i]);
	emit_n(o, '0', zeros);
	while (n)
		emit(o, buf[--n]);
	if (sp->left)
		emit_n(o, ' ', pad);
}

enum length { LEN_HH, LEN_H, LEN_INT, LEN_L, LEN_LL, LEN_Z };

static uint64_t get_unsigned(va_list *ap, enum length len)
{
	switch (len) {
	case LEN_HH: return (unsigned char)va_arg(*ap, unsigned int);
	case LEN_H:  return (unsigned short)va_arg(*ap, unsigned int);
	case LEN_L:  return va_arg(*ap, unsigned long);
	case LEN_LL: return va_arg(*ap, unsigned long long);
	case LEN_Z:  return va_arg(*ap, size_t);
	default:     return va_arg(*ap, unsigned int);
	}
}

static int64_t get_signed(va_list *ap, enum length len)
{
	switch (len) {
	case LEN_HH: return (signed char)va_arg(*ap, int);
	case LEN_H:  return (short)va_arg(*ap, int);
	case LEN_L:  return va_arg(*ap, long);
	case LEN_LL: return va_arg(*ap, long long);
	case LEN_Z:  return va_arg(*ap, long);	/* ssize_t */
	default:     return va_arg(*ap, int);
	}
}

int fmt_vformat(fmt_putc_fn putc, void *ctx, const char *fmt, va_list ap_in)
{
	struct out o = { putc, ctx, 0 };
	va_list ap;
	va_copy(ap, ap_in);

	while (*fmt) {
		if (*fmt != '%') {
			emit(&o, *fmt++);
			continue;
		}
		const char *start = fmt++;
		struct spec sp = { .prec = -1 };

		for (;; fmt++) {		/* flags */
			if (*fmt == '-') sp.left = true;
			else if (*fmt == '0') sp.zero = true;
			else if (*fmt == '+') sp.plus = true;
			else if (*fmt == ' ') sp.space = true;
			else if (*fmt == '#') sp.alt = true;
			else break;
		}
		if (*fmt == '*') {		/* width */
			sp.width = va_arg(ap, int);
			if (sp.width < 0) {
				sp.left = true;
				sp.width = -sp.width;
			}
			fmt++;
		} else {
			while (*fmt >= '0' && *fmt <= '9')
				sp.width = sp.width * 10 + (*fmt++ - '0');
		}
		if (*fmt == '.') {		/* precision */
			fmt++;
			sp.prec = 0;
			if (*fmt == '*') {
				sp.prec = va_arg(ap, int);
				if (sp.prec < 0)
					sp.prec = -1;
				fmt++;
			} else {
				while (*fmt >= '0' && *fmt <= '9')
					sp.prec = sp.prec * 10 + (*fmt++ - '0');
			}
		}
		enum length len = LEN_INT;	/* length modifier */
		if (*fmt == 'h') {
			len = LEN_H;
			if (*++fmt == 'h') { len = LEN_HH; fmt++; }
		} else if (*fmt == 'l') {
			len = LEN_L;
			if (*++fmt == 'l') { len = LEN_LL; fmt++; }
		} else if (*fmt == 'z') {
			len = LEN_Z;
			fmt++;
		}

		char conv = *fmt;
		if (conv)
			fmt++;
		switch (conv) {
		case 'd':
		case 'i': {
			int64_t v = get_signed(&ap, len);
			uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
			emit_num(&o, &sp, mag, v < 0, 10, false, "");
			break;
		}
		case 'u':
			sp.plus = sp.space = false;
			emit_num(&o, &sp, get_unsigned(&ap, len), false, 10, false, "");
			break;
		case 'x':
		case 'X': {
			uint64_t v = get_unsigned(&ap, len);
			sp.plus = sp.space = false;
			emit_num(&o, &sp, v, false, 16, conv == 'X',
				 sp.alt && v ? (conv == 'X' ? "0X" : "0x") : "");
			break;
		}
		case 'o': {
			uint64_t v = get_unsigned(&ap, len);
			sp.plus = sp.space = false;
			emit_num(&o, &sp, v, false, 8, false, sp.alt && v ? "0" : "");
			break;
		}
		case 'p': {
			/* always 0x and 16 digits: addresses line up in dumps */
			uintptr_t v = (uintptr_t)va_arg(ap, void *);
			struct spec ps = { .left = sp.left, .width = sp.width, .prec = 16 };
			emit_num(&o, &ps, v, false, 16, false, "0x");
			break;
		}
		case 's':
			emit_str(&o, &sp, va_arg(ap, const char *));
			break;
		case 'c': {
			char c[2] = { (char)va_arg(ap, int), 0 };
			sp.prec = 1;
			emit_str(&o, &sp, c);
			break;
		}
		case '%':
			emit(&o, '%');
			break;
		default:		/* unknown: print the directive as written */
			while (start < fmt)
				emit(&o, *start++);
			break;
		}
	}
	va_end(ap);
	return o.count;
}

struct strbuf {
	char *buf;
	size_t size;
	size_t pos;
};

static void strbuf_putc(char c, void *ctx)
{
	struct strbuf *sb = ctx;
	if (sb->pos + 1 < sb->size)
		sb->buf[sb->pos] = c;
	sb->pos++;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct strbuf sb = { buf, size, 0 };
	int n = fmt_vformat(strbuf_putc, &sb, fmt, ap);
	if (size)
		buf[sb.pos < size ? sb.pos : size - 1] = '\0';
	return n;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
