"""The console's words in Chinese and English.

One table, one key per phrase, so a missing translation is a KeyError in the tests rather
than a blank button in production.
"""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("zh", "en")

TEXT: dict[str, tuple[str, str]] = {
    "title": ("舆情监测", "Brand monitor"),
    "inbox": ("待处理工单", "Open tickets"),
    "all_tickets": ("全部工单", "All tickets"),
    "mentions": ("最新提及", "Mentions"),
    "sources": ("数据源", "Sources"),
    "tester": ("关键词测试", "Keyword tester"),
    "sign_in": ("登录", "Sign in"),
    "sign_out": ("退出", "Sign out"),
    "user": ("用户名", "User"),
    "password": ("密码", "Password"),
    "bad_login": ("用户名或密码错误", "Wrong user name or password"),
    "busy": ("服务器繁忙，请稍后再试", "Busy: try again in a moment"),
    "did_ack": ("已确认", "acknowledged"),
    "did_assign": ("已指派", "assigned"),
    "did_note": ("已添加备注", "note added"),
    "did_resolve": ("已解决", "resolved"),
    "did_reopen": ("已重新打开", "reopened"),
    "did_step": ("步骤已完成", "step done"),
    "did_demand": ("诉求已记录", "demand recorded"),
    "did_demand_done": ("诉求已处理", "demand met"),
    "link_stale": (
        "工单在此邮件之后被重新打开过，此链接已失效。请打开工单页面查看最新情况。",
        "The ticket was reopened after this mail was sent, so this link no longer works. Open the ticket page to see where it stands.",
    ),
    "link_already": ("已有人处理：", "Someone was there first:"),
    "forecast": ("预测（虚线区间）", "Forecast (dashed band)"),
    "by": ("截至", "by"),
    "tester_busy": ("另一个测试正在运行，请稍后再试", "Another test is running: try again in a moment"),
    "tester_stopped": ("已到时间上限：看过 {posts} 条帖子后停止，请缩短天数或用 monitor replay", "Stopped after {posts} posts: time limit (test fewer days, or use monitor replay)"),
    "tester_no_replay": ("帖子太多，未重放工单（请用 monitor replay）", "Too many stored posts to replay here (use monitor replay)"),
    "timezone": ("时区", "Time zone"),
    "shown_of": ("显示", "showing"),
    "too_many": ("失败次数过多，请 {minutes} 分钟后再试", "Too many failed attempts: try again in {minutes} min"),
    "severity": ("严重程度", "Severity"),
    "status": ("状态", "Status"),
    "brand": ("品牌", "Brand"),
    "ticket": ("工单", "Ticket"),
    "opened": ("开单", "Opened"),
    "due": ("期限", "Due"),
    "overdue": ("已超时", "Overdue"),
    "owner": ("负责人", "Owner"),
    "posts": ("帖子", "Posts"),
    "no_tickets": ("没有未处理的工单", "No open tickets"),
    "why": ("触发原因", "Why it fired"),
    "timeline": ("时间线", "Timeline"),
    "checklist": ("处置步骤", "Checklist"),
    "demands": ("客户诉求", "Customer demands"),
    "similar": ("相似案例", "Similar past cases"),
    "resolution": ("处理结果", "Resolution"),
    "engagement": ("互动量", "Engagement"),
    "rank_heat": ("热榜排名（1 为榜首）与热度", "Rank on the hot list (1 = top) and heat"),
    "hot_lists": ("热榜", "Hot lists"),
    "hot_list": ("榜单", "List"),
    "topic": ("话题", "Topic"),
    "first_listed": ("首次上榜", "First on the list"),
    "best_rank": ("最高排名", "Best rank"),
    "peak_heat": ("最高热度", "Peak heat"),
    "rank_now": ("当前", "Now"),
    "left_list": ("已离榜", "left the list"),
    "more_topics": ("另有话题", "more topics"),
    "ack": ("确认", "Acknowledge"),
    "assign": ("指派", "Assign"),
    "note": ("备注", "Note"),
    "resolve": ("解决", "Resolve"),
    "reopen": ("重新打开", "Reopen"),
    "how_solved": ("如何解决（必填）", "How was it solved (required)"),
    "assign_to": ("负责人姓名", "Owner's name"),
    "add_note": ("添加备注", "Add a note"),
    "done": ("完成", "Done"),
    "step_done": ("标记完成", "Mark done"),
    "author": ("作者", "Author"),
    "reposts": ("转发", "reposts"),
    "comments": ("评论", "comments"),
    "likes": ("赞", "likes"),
    "silenced": ("静默中", "Silenced"),
    "platform": ("平台", "Platform"),
    "text": ("内容", "Text"),
    "seen": ("发现时间", "Seen"),
    "categories": ("类别", "Categories"),
    "score": ("互动量", "Engagement"),
    "none": ("无", "none"),
    "source": ("数据源", "Source"),
    "kind": ("类型", "Kind"),
    "last_success": ("最近成功", "Last success"),
    "last_error": ("最近错误", "Last error"),
    "failures": ("连续失败", "Failures"),
    "stream": ("流", "Stream"),
    "stream_up": ("已连接，自", "connected since"),
    "stream_down": ("已断开，自", "DOWN since"),
    "stream_lag": ("延迟", "lag"),
    "stream_rate": ("事件/秒", "events/s"),
    "stream_reconnects": ("重连", "reconnects"),
    "stream_dropped": ("丢弃", "dropped"),
    "next_poll": ("下次抓取", "Next poll"),
    "healthy": ("正常", "healthy"),
    "failing": ("失败中", "failing"),
    "keywords": ("关键词（每行一个）", "Keywords (one per line)"),
    "query": ("或布尔查询", "or a boolean query"),
    "exclude": ("排除词（每行一个）", "Exclude words (one per line)"),
    "days": ("天数", "Days"),
    "replaces": ("替换品牌的关键词", "Replaces the keywords of brand"),
    "run_test": ("测试", "Test"),
    "matching_posts": ("匹配的帖子", "Matching posts"),
    "would_raise": ("将会产生的工单", "Tickets it would raise"),
    "live": ("现有配置", "Live config"),
    "candidate": ("新关键词", "Candidate"),
    "change": ("变化", "Change"),
    "change_new": ("+ 新增", "+ would raise"),
    "change_gone": ("- 不再产生", "- would not raise"),
    "change_severity": ("~ 严重程度变化", "~ severity"),
    "change_same": ("= 相同", "= same"),
    "of_scanned": ("条帖子中匹配", "posts scanned, matching"),
    "link_title": ("一键确认", "One-click acknowledge"),
    "link_confirm": ("确认此工单：有人在处理。", "Acknowledge this ticket: someone is on it."),
    "link_done": ("已确认，谢谢。", "Acknowledged. Thank you."),
    "link_tampered": ("链接无效（可能被改动）。请登录控制台操作。", "This link is not valid (it may have been altered). Sign in to the console instead."),
    "link_expired": ("链接已过期。请登录控制台操作。", "This link has expired. Sign in to the console instead."),
    "link_used": ("此链接已使用过。", "This link has already been used."),
    "refused": ("无法执行", "Not done"),
    "not_found": ("没有这个页面", "No such page"),
    "forbidden": ("请求已过期，请刷新页面后重试。", "The form had expired. Reload the page and try again."),
    "back": ("返回", "Back"),
    "language": ("English", "中文"),
    "open_ticket_page": ("打开工单页面", "Open the ticket page"),
    "no_chart": ("暂无互动数据", "No engagement readings yet"),
}


def pick_language(configured: str, accept_language: str | None, chosen: str | None = None) -> str:
    """The user's own choice, else the config's, else the browser's first zh/en preference."""
    if chosen in LANGUAGES:
        return chosen
    if configured in LANGUAGES:
        return configured
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return "zh"


def translator(language: str) -> Callable[[str], str]:
    index = 0 if language == "zh" else 1
    return lambda key: TEXT[key][index]
