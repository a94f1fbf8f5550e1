// Clientside callbacks of the YBB Export Studio UI (no network, no secrets).
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    ybb: {
        // dcc.Upload contents -> the request sent to the server; files above the limit are
        // refused here so they never travel. Returning null contents lets the same file be
        // chosen again.
        uploadRequest: function (contents, filename, limit) {
            if (!contents) {
                return [window.dash_clientside.no_update, window.dash_clientside.no_update];
            }
            var comma = contents.indexOf(",");
            var b64 = comma >= 0 ? contents.length - comma - 1 : contents.length;
            var size = Math.floor(b64 * 3 / 4);
            if (limit && size > limit) {
                return [{filename: filename, too_large: size, at: Date.now()}, null];
            }
            return [{filename: filename, contents: contents, at: Date.now()}, null];
        },
        // "Read pasted data" -> the paste request; text above the limit (in UTF-8 bytes) is
        // refused here, so a huge paste never becomes a request the server must turn away.
        pasteRequest: function (nClicks, text, limit) {
            if (!nClicks) {
                return window.dash_clientside.no_update;
            }
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
