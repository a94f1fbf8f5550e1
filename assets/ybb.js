// Clientside callbacks of the YBB Export Studio UI (no network, no secrets).
var ybbPaste = {
    DEBOUNCE_MS: 500,  // a paste arrives as one change; typing pauses longer than this rarely
    timer: null,
    lastRead: null,
    request: function (text, limit) {
        text = text || "";
        var size = text.length;  // UTF-16 units: a lower bound of the UTF-8 size
        if (limit && size <= limit && size * 3 > limit && window.TextEncoder) {
            size = new TextEncoder().encode(text).length;
        }
        if (limit && size > limit) {
            return {too_large: size, at: Date.now()};
        }
        return {text: text, at: Date.now()};
    }
};
// A uuid4 for a new export (crypto.getRandomValues, unlike crypto.randomUUID, also exists
// on plain-HTTP pages); the server checks its form.
function ybbExportRequest() {
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.from(b, function (x) { return x.toString(16).padStart(2, "0"); }).join("");
    var id = [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)];
    return {export_id: id.join("-")};
}
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    ybb: {
        // Export clicked: the id the export will be recorded under (components/export_run).
        exportRequest: function (clicks) {
            return clicks ? ybbExportRequest() : window.dash_clientside.no_update;
        },
        // The result card's "Export the same data as ...": that format, and a new export.
        nextFormat: function (clicks) {
            var ns = window.dash_clientside;
            var triggered = ns.callback_context.triggered || [];
            if (!triggered.length || !triggered[0].value) {
                return [ns.no_update, ns.no_update];
            }
            var propId = triggered[0].prop_id;
            var format = JSON.parse(propId.slice(0, propId.lastIndexOf("."))).format;
            return [format, ybbExportRequest()];
        },
        // The result card's "Start over": no data, no alerts, no result, the upload tab.
        startOver: function (clicks) {
            var ns = window.dash_clientside;
            if (!clicks) {
                return [ns.no_update, ns.no_update, ns.no_update, ns.no_update, ns.no_update,
                    ns.no_update];
            }
            window.scrollTo(0, 0);
            return [null, null, "", "upload", null, null];
        },
        // The paste request: on "Read pasted data", or once pasted / typed text has stopped
        // changing for DEBOUNCE_MS (so nobody has to click). Text above the limit (in
        // UTF-8 bytes) is refused here, so a huge paste never becomes a request the server
        // must turn away. Typing into an empty box, or text already read, asks nothing.
        pasteRequest: function (nClicks, text, limit) {
            var ns = window.dash_clientside;
            var triggered = (ns.callback_context.triggered || []).map(function (t) {
                return t.prop_id;
            });
            window.clearTimeout(ybbPaste.timer);
            if (triggered.indexOf("data-paste-text.value") >= 0 &&
                    triggered.indexOf("data-paste-button.n_clicks") < 0) {
                if (!(text || "").trim()) {
                    ybbPaste.lastRead = null;  // cleared (or Start over): the next paste counts
                    return ns.no_update;
                }
                if (text === ybbPaste.lastRead) {
                    return ns.no_update;
                }
                ybbPaste.timer = window.setTimeout(function () {
                    ybbPaste.lastRead = text;
                    ns.set_props("data-paste-request", {data: ybbPaste.request(text, limit)});
                }, ybbPaste.DEBOUNCE_MS);
                return ns.no_update;
            }
            if (!nClicks) {
                return ns.no_update;
            }
            ybbPaste.lastRead = text;
            return ybbPaste.request(text, limit);
        }
    }
});

// When UI login is on and the session ends (expired, signed out in another tab), Dash's
// requests get 401 with an X-YBB-Login header: go to the sign-in page and come back here
// afterwards, instead of leaving a page whose callbacks silently fail.
(function () {
    if (!window.fetch) {
        return;
    }
    var originalFetch = window.fetch.bind(window);
    window.fetch = function () {
        return originalFetch.apply(null, arguments).then(function (response) {
            var login = response.status === 401 && response.headers.get("X-YBB-Login");
            if (login && login.charAt(0) === "/" && login.charAt(1) !== "/") {
                var here = window.location.pathname + window.location.search;
                window.location.assign(login + "?next=" + encodeURIComponent(here));
                // The page is leaving: keep Dash from reporting the refused callback as an
                // error in the meantime.
                return new Promise(function () {});
            }
            return response;
        });
    };
})();

// Keyboard access to tabs: the tab links dash-bootstrap-components renders all carry
// tabindex="-1" (its roving focus never marks the active tab), so browsers leave every tab out
// of the Tab order. Put them back in and let Enter / Space activate one, like a click.
(function () {
    function enableTabs() {
        document.querySelectorAll(".nav-tabs .nav-link[tabindex='-1']").forEach(function (link) {
            link.setAttribute("tabindex", "0");
        });
    }
    document.addEventListener("keydown", function (event) {
        var link = event.target;
        if ((event.key === "Enter" || event.key === " ") && link.matches &&
                link.matches(".nav-tabs .nav-link")) {
            event.preventDefault();
            link.click();
        }
    });
    new MutationObserver(enableTabs).observe(document.documentElement, {
        childList: true, subtree: true, attributes: true, attributeFilter: ["tabindex"],
    });
})();
