"""Column widths of a DOCX table from its content (research.artifacts.render_docx.content_widths):
a wide table squeezes its number columns before its row labels, so that a station name stays on one
line (seen in the report's funnel table, 附表10, where 广州番禺供电所 wrapped after five characters)."""

from research.artifacts.render_docx import CELL_PAD_CM, CM_PER_CHAR, MIN_LABEL_CHARS, content_widths
from research.artifacts.table_cells import Display, Row


def _wide(label: str) -> Display:
    headers = ["供电所", "样本量", "满意数", "期望满意数", "标准化满意率（%）", "99.8%控制限（%）", "z",
               "q值（BH）", "信号", "FDR信号"]
    align = ["l", "r", "r", "r", "r", "r", "r", "r", "l", "l"]
    row = [label, "1,341", "1,042", "1080.4", "78.0", "[73.9, 87.9]", "-1.27", "0.538",
           "低于下控制限", "低于总体"]
    return Display(headers=headers, align=align, rows=[Row(cells=row)] * 3)


def test_station_name_keeps_one_line_in_a_wide_table():
    widths = content_widths(_wide("广州番禺供电所"), available_cm=16.0)
    assert abs(sum(widths) - 16.0) < 1e-6 or sum(widths) < 16.0
    # seven CJK characters = 14 half-width characters, within the label's floor
    assert widths[0] >= 14 * CM_PER_CHAR + CELL_PAD_CM
    assert widths[0] <= MIN_LABEL_CHARS * CM_PER_CHAR + CELL_PAD_CM + 1e-9
    # the number columns gave way instead: each narrower than its natural width
    natural = content_widths(_wide("广州番禺供电所"), available_cm=100.0)
    assert all(w < n for w, n in zip(widths[1:], natural[1:]))


def test_narrow_table_keeps_natural_widths():
    d = Display(headers=["供电所", "样本量"], align=["l", "r"], rows=[Row(cells=["广州番禺供电所", "581"])])
    widths = content_widths(d, available_cm=16.0)
    assert widths[0] == 14 * CM_PER_CHAR + CELL_PAD_CM
