/* Text for XML documents (the diagrams' SVG and HTML, the comparison's
 * chart). */
#include "src/xml.h"

#include <stdint.h>
#include <string.h>

#include "ipc/util.h"

void xml_escape(FILE *f, const char *s)
{
    size_t len = s ? strlen(s) : 0;
    for (size_t i = 0; i < len;) {
        unsigned char ch = (unsigned char)s[i];
        uint32_t cp;
        size_t n = dl_utf8_seq(s + i, len - i, &cp);
        switch (ch) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default:
            /* XML 1.0 allows no other control character, even escaped,
             * nor U+FFFE and U+FFFF; and a document is UTF-8 throughout:
             * every byte of anything else is shown as \xNN. */
            if (n && (cp >= 0x20 || cp == '\n' || cp == '\t') && cp != 0xfffe && cp != 0xffff) {
                fwrite(s + i, 1, n, f);
            } else {
                for (size_t j = 0; j < (n ? n : 1); j++)
                    fprintf(f, "\\x%02x", (unsigned char)s[i + j]);
            }
        }
        i += n ? n : 1;
    }
}
