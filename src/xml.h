#ifndef DISTLAB_SRC_XML_H
#define DISTLAB_SRC_XML_H

#include <stdio.h>

/* Write s to f as XML text, safe in text and in attributes: the five
 * special characters as entities; what XML 1.0 does not allow (control
 * characters other than newline and tab, U+FFFE, U+FFFF) and bytes that
 * are not UTF-8 as \xNN, one per byte. */
void xml_escape(FILE *f, const char *s); /* s may be NULL: nothing */

#endif
