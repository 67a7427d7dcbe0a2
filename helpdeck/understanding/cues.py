"""Small multilingual cue lexicons (en/de/fr/it/zh): interrogatives, asking for a person, and
negative feelings. They feed the intent model as features and the sentiment score."""

from __future__ import annotations

QUESTION_OPENERS = frozenset(
    "how what which where when why is are does do can could will "
    "wie was welche welcher welches wo wann warum gibt kann können ist sind werden liefern bieten "
    "comment quel quelle quels quelles où quand pourquoi est-ce puis-je peut-on livrez proposez "
    "come quale quali dove quando perché posso si c'è spedite offrite".split()
)
CJK_QUESTION = ("怎么", "如何", "什么", "哪", "吗", "是否", "能否", "多长", "多少", "有没有")
PERSON_WORDS = frozenset(
    "human person agent someone somebody representative manager supervisor staff people "
    "mensch menschen person mitarbeiter jemand jemandem vorgesetzten kundendienst "
    "humain personne conseiller quelqu'un responsable superviseur agent "
    "umano persona operatore qualcuno responsabile supervisore addetto".split()
)
CJK_PERSON = ("人工", "真人", "客服", "经理", "主管", "工作人员", "一个人")
# Stems (matched as word prefixes) of words that carry strong negative feeling.
NEGATIVE_STEMS = (
    "unacceptable", "furious", "angry", "terrible", "awful", "horrible", "worst", "useless",
    "ridiculous", "disappoint", "fed up", "sick of", "scam", "disgust", "rude", "poor", "unhappy",
    "hate", "pathetic", "outrage", "shame", "broken", "rubbish", "joke",
    "unzumutbar", "genervt", "sauer", "stinksauer", "wütend", "furchtbar", "schrecklich",
    "lächerlich", "enttäusch", "nutzlos", "unzufrieden", "schlecht", "frechheit", "unverschämt",
    "satt", "kaputt", "schwach", "betrug", "katastroph",
    "inacceptable", "marre", "furieu", "colère", "déplorable", "horrible", "ridicule", "déçu",
    "mécontent", "pire", "arnaque", "honteu", "lamentable", "nul", "cassé", "assez des",
    "inaccettabil", "stufo", "furios", "arrabbiat", "pessim", "orribil", "ridicol", "delus",
    "inutil", "insoddisfatt", "peggior", "truffa", "vergogn", "scarso",
)
CJK_NEGATIVE = (
    "太过分", "受够", "生气", "太差", "糟糕", "荒唐", "失望", "没用", "不满", "最差", "愤怒",
    "骗", "恶心", "差劲", "坏了", "气死", "投诉",
)
INTENSIFIERS = (
    "very", "so", "extremely", "really", "!!", "sehr", "echt", "wirklich", "extrem", "très",
    "vraiment", "tellement", "extrêmement", "molto", "davvero", "estremamente", "非常", "太", "真的",
)
