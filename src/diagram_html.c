/* The HTML form of a diagram: one self-contained page (no script, font or
 * image from anywhere else) holding the SVG, a legend, a panel with the
 * details of what the pointer is on, and zoom and scroll along time.
 *
 * The script is plain JavaScript with no library. Zoom scales the x, x1,
 * x2 and width attributes of the plot (src/diagram_svg.c keeps every
 * horizontal position in those), so text and marks keep their size. The
 * first script of the page records any error (window.onerror,
 * console.error, a rejected promise) in the #errors element, and the last
 * line of the main script sets data-ready on <body>: a headless browser
 * can tell from the DOM alone that the page ran cleanly. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/trace.h"
#include "nodes/algo.h"
#include "src/diagram_int.h"

static const char page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width\">\n"
    "<script>\n"
    "(function () {\n"
    "  var pending = [];\n"
    "  function report(msg) {\n"
    "    var p = document.getElementById('errors');\n"
    "    if (!p) { pending.push(msg); return; }\n"
    "    p.hidden = false;\n"
    "    p.textContent += msg + '\\n';\n"
    "  }\n"
    "  window.dgReport = report;\n"
    "  window.dgPending = pending;\n"
    "  window.onerror = function (msg, src, line, col) {\n"
    "    report('error: ' + msg + ' (line ' + line + ':' + col + ')');\n"
    "  };\n"
    "  window.addEventListener('unhandledrejection', function (e) {\n"
    "    report('unhandled rejection: ' + e.reason);\n"
    "  });\n"
    "  var orig = console.error;\n"
    "  console.error = function () {\n"
    "    report('console.error: ' + Array.prototype.join.call(arguments, ' '));\n"
    "    return orig.apply(console, arguments);\n"
    "  };\n"
    "})();\n"
    "</script>\n";

static const char page_style[] =
    "<style>\n"
    "body{font-family:sans-serif;margin:0;color:#222;}\n"
    "header{padding:6px 12px;background:#f0f3f8;border-bottom:1px solid #ccd;}\n"
    "h1{font-size:16px;margin:0 0 4px 0;}\n"
    ".bar button{font-size:14px;min-width:34px;margin-right:4px;}\n"
    ".bar span{font-size:12px;color:#555;margin-left:8px;}\n"
    "#sc{overflow:auto;max-height:72vh;border-bottom:1px solid #ccd;}\n"
    "#sc svg{display:block;}\n"
    "#hover{margin:0;padding:6px 12px;min-height:4.5em;background:#fffbe6;"
    "border-bottom:1px solid #ccd;font-size:12px;white-space:pre-wrap;}\n"
    "#legend{padding:6px 12px;font-size:12px;}\n"
    "#legend div{display:inline-block;margin:2px 14px 2px 0;vertical-align:middle;}\n"
    "#legend svg{vertical-align:middle;margin-right:4px;}\n"
    "#legend h2{font-size:13px;margin:6px 0 2px 0;}\n"
    "#errors{color:#b00;padding:6px 12px;}\n"
    "</style>\n";

static const char page_script[] =
    "<script>\n"
    "(function () {\n"
    "  'use strict';\n"
    "  var sc = document.getElementById('sc');\n"
    "  var svg = document.getElementById('diagram');\n"
    "  var plot = document.getElementById('plot');\n"
    "  var labels = document.getElementById('labels');\n"
    "  var hover = document.getElementById('hover');\n"
    "  var zl = document.getElementById('zoomlevel');\n"
    "  var W = parseFloat(svg.getAttribute('data-w'));\n"
    "  var LW = parseFloat(svg.getAttribute('data-lw'));\n"
    "  var H = parseFloat(svg.getAttribute('height'));\n"
    "  var names = ['x', 'x1', 'x2', 'width'];\n"
    "  var items = [];\n"
    "  var all = plot.querySelectorAll('[x],[x1],[x2],[width]');\n"
    "  for (var i = 0; i < all.length; i++) {\n"
    "    var e = all[i], v = [];\n"
    "    for (var j = 0; j < names.length; j++)\n"
    "      if (e.hasAttribute(names[j]))\n"
    "        v.push([names[j], parseFloat(e.getAttribute(names[j]))]);\n"
    "    items.push([e, v]);\n"
    "  }\n"
    "  var ticks = plot.querySelectorAll('g.tick');\n"
    "  var k = 1;\n"
    "  function spreadTicks() {\n"
    "    var last = -1e9;\n"
    "    for (var i = 0; i < ticks.length; i++) {\n"
    "      var x = parseFloat(ticks[i].getAttribute('data-x')) * k;\n"
    "      var show = x - last >= 80;\n"
    "      ticks[i].style.display = show ? '' : 'none';\n"
    "      if (show) last = x;\n"
    "    }\n"
    "  }\n"
    "  function apply() {\n"
    "    for (var i = 0; i < items.length; i++) {\n"
    "      var e = items[i][0], v = items[i][1];\n"
    "      for (var j = 0; j < v.length; j++) {\n"
    "        var val = v[j][1] * k;\n"
    "        if (v[j][0] === 'width' && val < 1) val = 1;\n"
    "        e.setAttribute(v[j][0], val.toFixed(1));\n"
    "      }\n"
    "    }\n"
    "    var w = LW + W * k;\n"
    "    svg.setAttribute('width', w.toFixed(0));\n"
    "    svg.setAttribute('viewBox', '0 0 ' + w.toFixed(0) + ' ' + H);\n"
    "    spreadTicks();\n"
    "    zl.textContent = 'zoom ' + Math.round(k * 100) + '%';\n"
    "  }\n"
    "  function zoomAt(f, px) {\n"
    "    var t = (sc.scrollLeft + px - LW) / k;\n"
    "    k = Math.min(50, Math.max(0.01, k * f));\n"
    "    apply();\n"
    "    sc.scrollLeft = Math.max(0, t * k + LW - px);\n"
    "  }\n"
    "  function fit() {\n"
    "    var avail = sc.clientWidth - LW - 4;\n"
    "    k = Math.min(1, Math.max(0.01, avail / W));\n"
    "    apply();\n"
    "    sc.scrollLeft = 0;\n"
    "  }\n"
    "  document.getElementById('zin').onclick = function () { zoomAt(1.5, sc.clientWidth / 2); };\n"
    "  document.getElementById('zout').onclick = function () { zoomAt(1 / 1.5, sc.clientWidth / "
    "2); "
    "};\n"
    "  document.getElementById('zfit').onclick = fit;\n"
    "  document.getElementById('z1').onclick = function () { zoomAt(1 / k, sc.clientWidth / 2); "
    "};\n"
    "  document.getElementById('left').onclick = function () { sc.scrollLeft -= sc.clientWidth * "
    "0.8; };\n"
    "  document.getElementById('right').onclick = function () { sc.scrollLeft += sc.clientWidth * "
    "0.8; };\n"
    "  sc.addEventListener('wheel', function (ev) {\n"
    "    if (ev.ctrlKey || ev.metaKey) {\n"
    "      ev.preventDefault();\n"
    "      zoomAt(ev.deltaY < 0 ? 1.25 : 0.8, ev.clientX - sc.getBoundingClientRect().left);\n"
    "    } else if (!ev.shiftKey && Math.abs(ev.deltaY) > Math.abs(ev.deltaX) &&\n"
    "               sc.scrollWidth > sc.clientWidth) {\n"
    "      ev.preventDefault();\n"
    "      sc.scrollLeft += ev.deltaY;\n"
    "    }\n"
    "  }, {passive: false});\n"
    "  document.addEventListener('keydown', function (ev) {\n"
    "    if (ev.key === '+' || ev.key === '=') zoomAt(1.5, sc.clientWidth / 2);\n"
    "    else if (ev.key === '-') zoomAt(1 / 1.5, sc.clientWidth / 2);\n"
    "  });\n"
    "  sc.addEventListener('scroll', function () {\n"
    "    labels.setAttribute('transform', 'translate(' + sc.scrollLeft + ',0)');\n"
    "  });\n"
    "  var lit = null;\n"
    "  svg.addEventListener('mouseover', function (ev) {\n"
    "    var el = ev.target;\n"
    "    while (el && el !== svg) {\n"
    "      var t = el.firstElementChild;\n"
    "      if (t && t.tagName === 'title') {\n"
    "        hover.textContent = t.textContent;\n"
    "        if (lit) lit.classList.remove('hl');\n"
    "        lit = el;\n"
    "        el.classList.add('hl');\n"
    "        return;\n"
    "      }\n"
    "      el = el.parentNode;\n"
    "    }\n"
    "  });\n"
    "  apply();\n"
    /* #selftest: what the browser test cannot click, the page does. */
    "  if (location.hash === '#selftest') {\n"
    "    var w0 = parseFloat(svg.getAttribute('width'));\n"
    "    var line = plot.querySelector('g.msg line.v');\n"
    "    var x0 = line ? parseFloat(line.getAttribute('x2')) : 0;\n"
    "    zoomAt(2, 0);\n"
    "    var w1 = parseFloat(svg.getAttribute('width'));\n"
    "    var x1 = line ? parseFloat(line.getAttribute('x2')) : 0;\n"
    "    fit();\n"
    "    var w2 = parseFloat(svg.getAttribute('width'));\n"
    "    zoomAt(1 / k, 0);\n"
    "    var ok = w1 > w0 * 1.5 && Math.abs(x1 - 2 * x0) < 1 && w2 <= sc.clientWidth + 1 &&\n"
    "             Math.abs(parseFloat(svg.getAttribute('width')) - w0) < 2;\n"
    "    if (!ok) window.dgReport('selftest: zoom ' + [w0, w1, w2, x0, x1].join(' '));\n"
    "    if (line) {\n"
    "      line.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));\n"
    "      if (hover.textContent.indexOf('\\nsent ') < 0) {\n"
    "        ok = false;\n"
    "        window.dgReport('selftest: hover shows ' + hover.textContent);\n"
    "      }\n"
    "    }\n"
    "    document.body.setAttribute('data-selftest', ok ? 'ok' : 'failed');\n"
    "  }\n"
    "  var pending = window.dgPending || [];\n"
    "  for (var p = 0; p < pending.length; p++) window.dgReport(pending[p]);\n"
    "  document.body.setAttribute('data-ready', '1');\n"
    "})();\n"
    "</script>\n";

static void legend_item(FILE *f, const char *svg, const char *text)
{
    fprintf(f, "<div><svg width=\"34\" height=\"18\" viewBox=\"0 0 34 18\">%s</svg>", svg);
    xml_escape(f, text);
    fputs("</div>\n", f);
}

static void legend_mark(FILE *f, const char *sym, const char *text)
{
    char svg[160];
    snprintf(svg, sizeof svg, "<use xlink:href=\"#%s\" x=\"17\" y=\"9\"/>", sym);
    legend_item(f, svg, text);
}

void dg_html_page(const struct dg_model *m, FILE *f, const uint16_t *types, int ntypes,
                  void (*svg)(void *), void *arg)
{
    fputs(page_head, f);
    fputs("<title>", f);
    xml_escape(f, "distlab diagram: ");
    xml_escape(f, m->name);
    fputs("</title>\n", f);
    fputs(page_style, f);
    fputs("</head>\n<body>\n<header>\n<h1>", f);
    xml_escape(f, m->name[0] ? m->name : "run");
    fputs(" <small>(", f);
    xml_escape(f, m->algorithm);
    fprintf(f, ", %d nodes", m->n);
    if (m->clients)
        fprintf(f, ", %d client%s", m->clients, m->clients == 1 ? "" : "s");
    fprintf(f,
            ")</small></h1>\n<div class=\"bar\">"
            "<button id=\"zout\" title=\"zoom out (-)\">&#8722;</button>"
            "<button id=\"zin\" title=\"zoom in (+)\">+</button>"
            "<button id=\"zfit\" title=\"the whole window on screen\">fit</button>"
            "<button id=\"z1\" title=\"back to 100%%\">1:1</button>"
            "<button id=\"left\" title=\"earlier\">&#9664;</button>"
            "<button id=\"right\" title=\"later\">&#9654;</button>"
            "<span id=\"zoomlevel\">zoom 100%%</span>"
            "<span>%.3f&#8211;%.3f ms of %.3f ms; %zu message%s. Wheel: scroll in time; "
            "Ctrl+wheel: zoom; Shift+wheel: lanes. The time axis is compressed: quiet "
            "gaps are drawn short.</span></div>\n</header>\n",
            (double)m->from_us / 1e3, (double)m->to_us / 1e3, (double)m->end_us / 1e3, m->nmsgs,
            m->nmsgs == 1 ? "" : "s");
    fputs("<div id=\"sc\">\n", f);
    svg(arg);
    fputs("</div>\n<pre id=\"hover\">Point at an arrow, a bar or a mark for its details."
          "</pre>\n<div id=\"legend\">\n<h2>Messages (arrow labels: ",
          f);
    xml_escape(f, m->key_field);
    fputs(")</h2>\n", f);
    for (int i = 0; i < ntypes; i++) {
        char svgbuf[256], tb[16];
        snprintf(svgbuf, sizeof svgbuf,
                 "<line x1=\"2\" y1=\"9\" x2=\"30\" y2=\"9\" stroke=\"%s\" stroke-width=\"2\" "
                 "marker-end=\"url(#ah%d)\"/>",
                 dg_palette[dg_type_colour(types[i])], dg_type_colour(types[i]));
        legend_item(f, svgbuf, dg_type_name(m, types[i], tb, sizeof tb));
    }
    if (ntypes == 0)
        fputs("<div>(no message in this window)</div>\n", f);
    /* The legend names only what this window shows. */
    bool has_short = false, has_ev[TR_EV_COUNT] = {false}, has_role[8] = {false};
    bool has_cs[4] = {false}, has_op[TR_EV_COUNT] = {false}, has_down = false, has_pause = false,
         has_cut = false;
    for (size_t i = 0; i < m->nmsgs; i++)
        has_short |= m->msgs[i].drop >= 0 || m->msgs[i].tr < 0;
    for (size_t i = 0; i < m->nmarks; i++)
        if (m->marks[i].ev >= 0 && m->marks[i].ev < TR_EV_COUNT)
            has_ev[m->marks[i].ev] = true;
    for (size_t i = 0; i < m->nspans; i++) {
        const struct dg_span *sp = &m->spans[i];
        switch (sp->kind) {
        case DG_SPAN_ROLE: has_role[sp->aux & 7] = true; break;
        case DG_SPAN_CS: has_cs[sp->aux == 1 ? 1 : sp->aux == 2 ? 2 : 0] = true; break;
        case DG_SPAN_OP: has_op[sp->aux >= 0 && sp->aux < TR_EV_COUNT ? sp->aux : 0] = true; break;
        case DG_SPAN_DOWN: has_down = true; break;
        case DG_SPAN_PAUSE: has_pause = true; break;
        case DG_SPAN_CUT: has_cut = true; break;
        }
    }
    if (has_short)
        legend_item(f,
                    "<line x1=\"2\" y1=\"4\" x2=\"22\" y2=\"13\" stroke=\"#555\" "
                    "stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>"
                    "<use xlink:href=\"#mk-drop\" x=\"24\" y=\"14\"/>",
                    "dropped or never received (stops short)");
    fputs("<h2>Bars and lanes</h2>\n", f);
    if (has_cs[0])
        legend_item(f,
                    "<rect x=\"2\" y=\"2\" width=\"30\" height=\"14\" fill=\"#3a6fc4\" "
                    "fill-opacity=\"0.55\" stroke=\"#2a4f8c\"/>",
                    "critical section");
    if (has_cs[1])
        legend_item(f,
                    "<rect x=\"2\" y=\"2\" width=\"30\" height=\"14\" fill=\"url(#hatch-red)\" "
                    "stroke=\"#d00\"/>",
                    "critical section: violation (another holder)");
    if (has_cs[2])
        legend_item(f,
                    "<rect x=\"2\" y=\"2\" width=\"30\" height=\"14\" fill=\"#fff4e0\" "
                    "stroke=\"#e67e00\" stroke-width=\"2\" stroke-dasharray=\"4 2\"/>",
                    "critical section: fenced (a stale holder, refused by the resource)");
    static const struct {
        int role;
        const char *fill, *text;
    } roles[] = {{ROLE_LEADER, "#9be39b", "leader"},
                 {ROLE_CANDIDATE, "#ffd966", "candidate"},
                 {ROLE_FOLLOWER, "#dce8f7", "follower"},
                 {ROLE_COORDINATOR, "#c9b8f0", "coordinator"},
                 {ROLE_TOKEN_HOLDER, "#f5c6e0", "token holder"}};
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        char buf[160];
        if (!has_role[roles[i].role & 7])
            continue;
        snprintf(buf, sizeof buf, "<rect x=\"2\" y=\"2\" width=\"30\" height=\"14\" fill=\"%s\"/>",
                 roles[i].fill);
        legend_item(f, buf, roles[i].text);
    }
    if (has_down)
        legend_item(f,
                    "<rect x=\"2\" y=\"2\" width=\"30\" height=\"14\" fill=\"url(#hatch-grey)\"/>",
                    "down (crashed or stopped)");
    if (has_pause)
        legend_item(f,
                    "<rect x=\"2\" y=\"2\" width=\"30\" height=\"14\" fill=\"url(#hatch-blue)\"/>",
                    "paused");
    if (has_cut)
        legend_item(f, "<rect x=\"2\" y=\"4\" width=\"30\" height=\"10\" fill=\"#e33\"/>",
                    "network partitioned (top band, faint red across the lanes)");
    static const struct {
        int ev;
        const char *fill, *text;
    } ops[] = {{TR_OK, "#7fc97f", "client operation: ok"},
               {TR_FAIL, "#f0027f", "client operation: failed"},
               {TR_TIMEOUT, "#fdc086", "client operation: timed out"},
               {0, "#bbb", "client operation: pending at the end"}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        char buf[200];
        if (!has_op[ops[i].ev])
            continue;
        snprintf(buf, sizeof buf,
                 "<rect x=\"2\" y=\"3\" width=\"30\" height=\"12\" fill=\"%s\" stroke=\"#555\" "
                 "stroke-width=\"0.5\"/>",
                 ops[i].fill);
        legend_item(f, buf, ops[i].text);
    }
    bool any_mark = false;
    for (int ev = 0; ev < TR_EV_COUNT; ev++)
        any_mark |= has_ev[ev];
    if (any_mark)
        fputs("<h2>Marks</h2>\n", f);
    static const struct {
        int ev;
        const char *sym, *text;
    } marks[] = {{TR_CRASH, "mk-crash", "crash"},
                 {TR_PAUSE, "mk-pause", "pause"},
                 {TR_RESUME, "mk-resume", "resume"},
                 {TR_RESTART, "mk-restart", "restart"},
                 {TR_START, "mk-start", "start (a new incarnation)"},
                 {TR_STOP, "mk-stop", "stop"},
                 {TR_TRUNCATE, "mk-rollback", "log roll-back (uncommitted entries dropped)"},
                 {TR_FAULT, "mk-fault", "the supervisor's fault (dashed line across the lanes)"},
                 {TR_DROP, "mk-drop", "a malformed message dropped"},
                 {TR_CUT, "mk-cut", "trace cut"}};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        if (has_ev[marks[i].ev])
            legend_mark(f, marks[i].sym, marks[i].text);
    fputs("</div>\n<pre id=\"errors\" hidden></pre>\n", f);
    fputs(page_script, f);
    fputs("</body>\n</html>\n", f);
}
