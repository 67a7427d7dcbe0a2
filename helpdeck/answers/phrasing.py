"""The composer's own words in each language it answers in (en, de, fr, it, zh); the quoted
knowledge stays verbatim in the language it was written in."""

from __future__ import annotations

FRAMES: dict[str, dict[str, str]] = {
    "en": {
        "intro": "Here is what {owner} documentation says:",
        "more": "If this doesn't answer your question, I can connect you with a person from our team.",
        "unknown": "I don't know: I couldn't find this in {owner} knowledge base and I'd rather not guess. "
        "Would you like me to connect you with a person from our team?",
        "source": "Source",
        "owner_default": "our",
        "owner": "{company}'s",
    },
    "de": {
        "intro": "Das steht in der Dokumentation von {owner}:",
        "more": "Falls das Ihre Frage nicht beantwortet, kann ich Sie mit einer Person aus unserem Team verbinden.",
        "unknown": "Das weiß ich leider nicht: In der Wissensdatenbank von {owner} habe ich dazu nichts gefunden, "
        "und raten möchte ich nicht. Soll ich Sie mit einer Person aus unserem Team verbinden?",
        "source": "Quelle",
        "owner_default": "uns",
        "owner": "{company}",
    },
    "fr": {
        "intro": "Voici ce que dit la documentation de {owner} :",
        "more": "Si cela ne répond pas à votre question, je peux vous mettre en relation "
        "avec une personne de notre équipe.",
        "unknown": "Je ne sais pas : je n'ai rien trouvé à ce sujet dans la base de connaissances de {owner} "
        "et je préfère ne pas deviner. Voulez-vous que je vous mette en relation avec une personne de notre équipe ?",
        "source": "Source",
        "owner_default": "notre service",
        "owner": "{company}",
    },
    "it": {
        "intro": "Ecco cosa dice la documentazione di {owner}:",
        "more": "Se questo non risponde alla tua domanda, posso metterti in contatto con una persona del nostro team.",
        "unknown": "Non lo so: non ho trovato nulla nella base di conoscenza di {owner} e preferisco non tirare "
        "a indovinare. Vuoi che ti metta in contatto con una persona del nostro team?",
        "source": "Fonte",
        "owner_default": "nostra azienda",
        "owner": "{company}",
    },
    "zh": {
        "intro": "{owner}文档中是这样说的：",
        "more": "如果这没有解答您的问题，我可以为您转接我们团队的工作人员。",
        "unknown": "抱歉，我不知道：在{owner}知识库中没有找到相关内容，我不想随意猜测。"
        "需要为您转接我们团队的工作人员吗？",
        "source": "来源",
        "owner_default": "我们的",
        "owner": "{company}的",
    },
}


def frame(language: str) -> dict[str, str]:
    return FRAMES.get(language, FRAMES["en"])


def owner(language: str, company_name: str) -> str:
    words = frame(language)
    return words["owner"].format(company=company_name) if company_name else words["owner_default"]
