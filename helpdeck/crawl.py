"""Which pages of a site to ingest: same origin only, robots.txt respected, a page cap.

`crawl_pages` walks links breadth-first from a start URL, or reads a sitemap (and one level
of sitemap index), and yields each fetched page. Pages are fetched one at a time: a customer's
site is not ours to hammer.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

from helpdeck.web_fetch import USER_AGENT, FetchedPage, FetchError, PageFetcher, normalise_url, origin

_SKIP_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".css", ".js", ".zip", ".gz", ".mp4", ".ico", ".woff")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.links.append(href)
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def page_links(page: FetchedPage) -> tuple[str, list[str]]:
    """The page's <title> and the absolute URLs of its links (HTML pages only)."""
    if "html" not in page.content_type.lower():
        return "", []
    parser = _Links()
    try:
        parser.feed(page.body.decode("utf-8", errors="replace"))
    except Exception:  # noqa: BLE001 - a malformed page simply has no usable links
        return parser.title.strip(), []
    return " ".join(parser.title.split()), [urljoin(page.url, href) for href in parser.links]


async def load_robots(fetcher: PageFetcher, site_origin: str, start_url: str) -> RobotFileParser:
    """robots.txt of the site: missing (4xx) allows everything.

    A site whose robots.txt cannot be read (5xx, no answer, host unreachable) may not be
    crawled at all (RFC 9309 §2.3.1.4): that raises FetchError with the reason, so the crawl
    ends `failed` saying what to fix, instead of "done" with no page or a misleading
    "robots.txt forbids".
    """
    robots = RobotFileParser()
    parts = urlsplit(start_url)
    robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
    try:
        page = await fetcher.fetch(robots_url, same_origin=site_origin)
    except FetchError as exc:
        if "HTTP 4" in exc.message:
            robots.allow_all = True  # type: ignore[attr-defined]  # read by can_fetch
            return robots
        if exc.code != "fetch_failed":
            raise  # refused address, robots.txt redirecting off the site…
        raise FetchError(
            "fetch_failed",
            f"the crawl of {site_origin} did not start: its robots.txt could not be read ({exc.message}); "
            "check that the site is up and reachable from Helpdeck, then add the source again",
        ) from None
    robots.parse(page.body.decode("utf-8", errors="replace").splitlines())
    return robots


def _sitemap_locs(body: bytes) -> tuple[list[str], list[str]]:
    """(page URLs, nested sitemap URLs) of a sitemap or sitemap index."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise FetchError(
            "invalid_sitemap", f"the sitemap is not valid XML ({exc}): fix it, then add the source again"
        ) from None
    tag = root.tag.rsplit("}", 1)[-1]
    locs = [el.text.strip() for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "loc" and el.text]
    return ([], locs) if tag == "sitemapindex" else (locs, [])


def _wanted(url: str, site_origin: str, robots: RobotFileParser) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or origin(url) != site_origin:
        return False
    if parts.path.lower().endswith(_SKIP_EXTENSIONS):
        return False
    return robots.can_fetch(USER_AGENT, url)


async def crawl_pages(
    fetcher: PageFetcher, start_url: str, *, sitemap: bool, max_pages: int
) -> AsyncIterator[FetchedPage | FetchError]:
    """Yield up to `max_pages` fetched pages of the start URL's origin (or a FetchError per page
    that failed); raises FetchError when the start URL or sitemap itself cannot be read."""
    site_origin = origin(start_url)
    robots = await load_robots(fetcher, site_origin, start_url)
    queue: deque[str] = deque()
    if sitemap:
        index = await fetcher.fetch(start_url, same_origin=site_origin)
        pages, nested = _sitemap_locs(index.body)
        for child in nested[:20]:
            if origin(child) == site_origin:
                pages += _sitemap_locs((await fetcher.fetch(child, same_origin=site_origin)).body)[0]
        queue.extend(normalise_url(u) for u in pages if _wanted(u, site_origin, robots))
        if not queue:
            raise FetchError(
                "invalid_sitemap",
                f"the sitemap {start_url} lists no page of {site_origin} that robots.txt allows "
                f"({len(pages)} listed): check the sitemap's <loc> URLs",
            )
    else:
        if not robots.can_fetch(USER_AGENT, start_url):
            raise FetchError("robots_disallowed", f"robots.txt of {site_origin} forbids crawling {start_url}")
        queue.append(normalise_url(start_url))
    seen = set(queue)
    fetched = 0
    while queue and fetched < max_pages:
        url = queue.popleft()
        try:
            page = await fetcher.fetch(url, same_origin=site_origin)
        except FetchError as exc:
            if fetched == 0 and not sitemap:
                raise
            yield exc
            continue
        fetched += 1
        yield page
        if not sitemap:
            for link in page_links(page)[1]:
                link = normalise_url(link)
                if link not in seen and _wanted(link, site_origin, robots):
                    seen.add(link)
                    queue.append(link)
