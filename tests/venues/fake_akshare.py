"""akshare's HTTP layer patched with realistic payloads, so akshare's own request and parsing code runs.

``FakeAkshareHTTP.install(monkeypatch)`` replaces ``requests.adapters.HTTPAdapter.send`` (below every
``requests.get`` akshare makes) with a router that answers the hosts akshare's A-share functions call, in
their real formats (eastmoney push2/push2his JSON, sina jsonp, tencent ``var=`` JSON). Nothing reaches the
network. Per-source modes, to test what akshare users meet:

  "ok"        a normal answer
  "ban"       the connection is dropped (how eastmoney bans: RemoteDisconnected)
  "forbidden" HTTP 403 with an HTML page
  "garbage"   HTTP 200 with an empty/unexpected body (rc != 0, data null)
  "hang"      no answer until the request's own timeout, then ReadTimeout (a stalled socket)
  "hang_hard" no answer for ``hang_s`` seconds, ignoring the timeout (a C-level stall)
"""
from __future__ import annotations

import json
import threading
import urllib.parse

import requests
from requests.adapters import HTTPAdapter

HOSTS = {
    "push2.eastmoney.com": "eastmoney", "push2his.eastmoney.com": "eastmoney",
    "82.push2.eastmoney.com": "eastmoney",
    "quotes.sina.cn": "sina", "finance.sina.com.cn": "sina",
    "web.ifzq.gtimg.cn": "tencent", "proxy.finance.qq.com": "tencent",
    "np-weblist.eastmoney.com": "eastmoney", "np-anotice-stock.eastmoney.com": "eastmoney",  # news (issue 22)
}


class FakeAkshareHTTP:
    def __init__(self) -> None:
        self.mode = {"eastmoney": "ok", "sina": "ok", "tencent": "ok"}
        self.hang_s = 30.0
        self.calls: list[tuple[str, str]] = []  # (source, path)
        self.last = 1500.0
        self.prev_close = 1480.0
        self.volume_lots = 10_000
        self.bid_sizes = [30, 20, 10, 50, 40]  # lots (x100 shares)
        self.ask_sizes = [25, 15, 35, 45, 5]
        #: the A-share list eastmoney's quote list serves (code -> name), in pages of the request's ``pz``
        self.names = dict(NAMES)
        self._lock = threading.Lock()
        self._release = threading.Event()
        #: eastmoney's flash news (快讯), newest first: (code, title, summary, showTime)
        self.flash = [("202612073012345678", "<b>央行</b>：保持流动性合理充裕", "央行表示将保持流动性合理充裕。",
                       "2026-12-07 09:31:05"),
                      ("202612073012345600", "贵州茅台：净利润同比增长15%", "贵州茅台发布公告，净利润同比增长。",
                       "2026-12-07 09:30:00")]
        #: announcements per code: (art_code, title, column_name, notice_date)
        self.notices = {"600519": [("AN202612071234567890", "贵州茅台关于回购股份的公告", "重大事项",
                                    "2026-12-07 00:00:00")]}

    def install(self, monkeypatch) -> "FakeAkshareHTTP":
        fake = self

        def send(adapter, request, **kwargs):
            return fake.answer(request, kwargs.get("timeout"))

        monkeypatch.setattr(HTTPAdapter, "send", send)
        return self

    def release_hangs(self) -> None:
        self._release.set()

    # ------------------------------------------------------------------------------------------ routing
    def answer(self, request: requests.PreparedRequest, timeout) -> requests.Response:
        url = urllib.parse.urlsplit(request.url)
        source = HOSTS.get(url.hostname or "")
        if source is None:
            raise AssertionError(f"akshare tried to reach an unexpected host: {request.url}")
        with self._lock:
            self.calls.append((source, url.path))
        mode = self.mode[source]
        if mode == "ban":
            raise requests.ConnectionError("('Connection aborted.', RemoteDisconnected('Remote end closed "
                                           "connection without response'))")
        if mode == "forbidden":
            return _response(request, 403, "<html><body>403 Forbidden</body></html>", "text/html")
        if mode == "hang":
            limit = _read_timeout(timeout)
            self._release.wait(limit if limit is not None else self.hang_s)
            raise requests.ReadTimeout(f"HTTPSConnectionPool(host='{url.hostname}', port=443): Read timed out.")
        if mode == "hang_hard":
            self._release.wait(self.hang_s)
            raise requests.ConnectionError("connection reset after a long stall")
        q = dict(urllib.parse.parse_qsl(url.query))
        if mode == "garbage":
            return _response(request, 200, json.dumps({"rc": 102, "rt": 0, "data": None}))
        path = url.path
        if url.hostname == "82.push2.eastmoney.com" and path == "/api/qt/clist/get":
            return _response(request, 200, json.dumps(self._em_list(q)))
        if url.hostname == "push2.eastmoney.com" and path == "/api/qt/stock/get":
            return _response(request, 200, json.dumps(self._em_quote(q["secid"])))
        if url.hostname == "push2his.eastmoney.com" and path == "/api/qt/stock/kline/get":
            return _response(request, 200, json.dumps(self._em_klines(q)))
        if url.hostname == "push2his.eastmoney.com" and path == "/api/qt/stock/trends2/get":
            return _response(request, 200, json.dumps(self._em_trends(q["secid"])))
        if url.hostname == "quotes.sina.cn":
            return _response(request, 200, self._sina_minutes(q))
        if url.hostname == "finance.sina.com.cn":
            return _response(request, 404, "not found", "text/html")  # sina's qfq lookup akshare tries and drops
        if url.hostname == "web.ifzq.gtimg.cn":
            return _response(request, 200, 'trend_qfq={"code":0,"msg":"","data":[["2001-08-27","34.51"]]}')
        if url.hostname == "proxy.finance.qq.com":
            return _response(request, 200, self._tx_klines(q))
        if url.hostname == "np-weblist.eastmoney.com" and path == "/comm/web/getFastNewsList":
            return _response(request, 200, json.dumps({"code": "1", "data": {"fastNewsList": [
                {"code": c, "title": t, "summary": sm, "showTime": when} for c, t, sm, when in self.flash]}}))
        if url.hostname == "np-anotice-stock.eastmoney.com" and path == "/api/security/ann":
            return _response(request, 200, json.dumps(self._em_notices(q)))
        return _response(request, 404, "not found", "text/html")

    # ----------------------------------------------------------------------------------------- payloads
    def _em_notices(self, q: dict) -> dict:
        code = q.get("stock_list", "")
        rows = [{"art_code": art, "display_time": f"{day[:10]} 18:00:00:000", "eiTime": f"{day[:10]} 18:00:00",
                 "notice_date": day, "title": title, "codes": [{"stock_code": code, "short_name":
                 self.names.get(code, code), "ann_type": "A,SHA", "inner_code": "1", "market_code": "1"}],
                 "columns": [{"column_code": "001", "column_name": column}]}
                for art, title, column, day in self.notices.get(code, [])]
        return {"data": {"list": rows, "page_index": 1, "page_size": 100, "total_hits": len(rows)}, "success": 1}

    def _em_quote(self, secid: str) -> dict:
        code = secid.split(".")[1]
        tick = 0.01
        bids = [round(self.last - tick * (i + 1), 2) for i in range(5)]
        asks = [round(self.last + tick * i, 2) for i in range(5)]
        data = {"f43": self.last, "f44": round(self.last * 1.01, 2), "f45": round(self.last * 0.99, 2),
                "f46": self.prev_close, "f47": self.volume_lots, "f48": self.volume_lots * 100 * self.last,
                "f50": 1.02, "f51": round(self.prev_close * 1.1, 2), "f52": round(self.prev_close * 0.9, 2),
                "f57": code, "f58": "贵州茅台", "f60": self.prev_close, "f71": round(self.last * 0.999, 2),
                "f49": 5200, "f161": 4800, "f168": 0.26, "f169": round(self.last - self.prev_close, 2),
                "f170": round((self.last / self.prev_close - 1) * 100, 2)}
        for i, (p, v) in enumerate(zip(bids, self.bid_sizes)):  # buy_1 = f19/f20 ... buy_5 = f11/f12
            data[f"f{19 - 2 * i}"], data[f"f{20 - 2 * i}"] = p, v
        for i, (p, v) in enumerate(zip(asks, self.ask_sizes)):  # sell_1 = f39/f40 ... sell_5 = f31/f32
            data[f"f{39 - 2 * i}"], data[f"f{40 - 2 * i}"] = p, v
        return {"rc": 0, "rt": 4, "svr": 181735086, "lt": 1, "full": 1, "dlmkts": "", "data": data}

    def _em_list(self, q: dict) -> dict:
        """eastmoney's A-share quote list (``stock_zh_a_spot_em``): one page of ``pz`` rows, every field in
        the order eastmoney sends them (akshare names the columns by position)."""
        size, page = int(q.get("pz", 100)), int(q.get("pn", 1))
        codes = list(self.names)[(page - 1) * size: page * size]
        rows = []
        for i, code in enumerate(codes):
            price = 10.0 + i
            row = {f"f{n}": 0 for n in (*range(1, 19), *range(20, 26), 62, 115, 128, 140, 141, 136, 152)}
            row.update({"f1": 2, "f2": price, "f3": round(0.1 * i, 2), "f5": 1000 + i, "f12": code,
                        "f13": 1 if code.startswith("6") else 0, "f14": self.names[code], "f18": price,
                        "f128": "-", "f140": "-", "f141": "-"})
            rows.append(row)
        return {"rc": 0, "rt": 6, "svr": 181669434, "lt": 1, "full": 1, "dlmkts": "",
                "data": {"total": len(self.names), "diff": rows}}

    def _em_klines(self, q: dict) -> dict:
        code = q["secid"].split(".")[1]
        if q.get("klt") == "101":
            rows = ["2024-01-02,1715.00,1685.01,1718.19,1678.10,32158,5468543232.00,2.35,-2.00,-34.40,0.26",
                    "2024-01-03,1681.11,1694.00,1695.22,1676.33,20246,3420239360.00,1.12,0.53,8.99,0.16",
                    "2024-01-04,1693.00,1669.00,1693.00,1662.93,21446,3588567040.00,1.78,-1.48,-25.00,0.17"]
        else:
            rows = ["2024-01-04 09:35,1693.00,1690.00,1694.00,1688.00,1200,202800000.00,0.35,-0.18,-3.00,0.01"]
        rows = [_scaled(r, 1, 5, ADJUST_FACTOR[q.get("fqt", "0")]) for r in rows]
        return {"rc": 0, "rt": 17, "svr": 180606409, "lt": 1, "full": 0, "dlmkts": "",
                "data": {"code": code, "market": 1, "name": "贵州茅台", "decimal": 2, "dktotal": 5323,
                         "preKPrice": 1725.0, "klines": rows}}

    def _em_trends(self, secid: str) -> dict:
        rows = ["2024-01-04 09:30,1693.00,1693.00,1693.00,1693.00,512,86681600.00,1693.000",
                "2024-01-04 09:31,1693.00,1690.50,1694.00,1689.00,300,50715000.00,1692.100",
                "2024-01-04 09:32,1690.50,1691.20,1692.00,1690.00,150,25368000.00,1691.900"]
        return {"rc": 0, "rt": 10, "svr": 181669434, "lt": 1, "full": 0, "dlmkts": "",
                "data": {"code": secid.split(".")[1], "market": 1, "type": 2, "status": 0, "name": "贵州茅台",
                         "decimal": 2, "preSettlement": 0.0, "preClose": self.prev_close, "beticks": "",
                         "trendsTotal": 3, "time": 1704331800, "kind": 1, "prePrice": self.prev_close,
                         "trends": rows}}

    def _sina_minutes(self, q: dict) -> str:
        rows = [{"day": "2024-01-04 09:31:00", "open": "1693.000", "high": "1694.000", "low": "1689.000",
                 "close": "1690.500", "volume": "30000", "amount": "50715000.0000"},
                {"day": "2024-01-04 09:32:00", "open": "1690.500", "high": "1692.000", "low": "1690.000",
                 "close": f"{self.last:.3f}", "volume": "15000", "amount": "25368000.0000"}]
        return "/*<script>location.href='//sina.com';</script>*/\n=(" + json.dumps(rows) + ");"

    def _tx_klines(self, q: dict) -> str:
        var = q.get("_var", "kline_day")
        sym, *_, adjust = q["param"].split(",")
        factor = ADJUST_FACTOR[{"": "0", "qfq": "1", "hfq": "2"}[adjust]]
        rows = [["2024-01-02", "1715.00", "1685.01", "1718.19", "1678.10", "32158.000", {}, "0.26", "54685.43", ""],
                ["2024-01-03", "1681.11", "1694.00", "1695.22", "1676.33", "20246.000", {}, "0.16", "34202.39", ""]]
        rows = [[r[0], *(f"{float(v) * factor:.2f}" for v in r[1:5]), *r[5:]] for r in rows]
        key = f"{adjust}day"  # tencent names the series by its adjustment: day, qfqday, hfqday
        return f"{var}=" + json.dumps({"code": 0, "msg": "", "data": {sym: {key: rows, "qt": {}, "version": "12"}}})


#: the fake's A-share list: code -> name (main boards, ChiNext, STAR, Beijing)
NAMES = {"600519": "贵州茅台", "000001": "平安银行", "000858": "五粮液", "300750": "宁德时代",
         "688981": "中芯国际", "601318": "中国平安", "430047": "诺思兰德"}

#: eastmoney's fqt (0 none, 1 forward, 2 backward) -> how the fake moves the prices, so a test can tell them apart
ADJUST_FACTOR = {"0": 1.0, "1": 0.9, "2": 2.0}


def _scaled(row: str, first: int, last: int, factor: float) -> str:
    """An eastmoney kline row ("date,open,close,high,low,...") with its price fields times ``factor``."""
    cells = row.split(",")
    cells[first:last] = [f"{float(c) * factor:.2f}" for c in cells[first:last]]
    return ",".join(cells)


def _read_timeout(timeout) -> float | None:
    if isinstance(timeout, tuple):
        return timeout[1]
    return timeout


def _response(request, status: int, body: str, ctype: str = "application/json; charset=UTF-8") -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = body.encode("utf-8")
    r.headers["Content-Type"] = ctype
    r.url = request.url
    r.request = request
    r.encoding = "utf-8"
    r.reason = "OK" if status == 200 else "Error"
    return r
