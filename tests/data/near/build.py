"""Builds the near-duplicate evaluation set (README.md in this folder says what is in it).

Run from the repository root: `python tests/data/near/build.py`. It rewrites tune/ and
frozen/ from the texts below, which were written for this set (none is copied from a real
outlet; names of people and places are real, the events are invented or paraphrased).
The output is committed: the test reads the files, not this script.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import opencc

HERE = Path(__file__).resolve().parent
_T2S = opencc.OpenCC("t2s").convert

# --- copies: (base paragraphs, the copies' transformations) ------------------------------


def wire_zh(p: list[str]) -> list[str]:
    """A Taiwanese wire service's lead-in and footer."""
    return ["（中央社記者林敬殷台北綜合外電報導）" + p[0], *p[1:], "（編輯：陳政偉）1130618"]


def paper_zh(p: list[str]) -> list[str]:
    return ["【本報訊】" + p[0], *p[1:], "（本報綜合報導）責任編輯：黃小玲"]


def mainland(p: list[str]) -> list[str]:
    """Simplified script with mainland spellings of names."""
    text = _T2S("\n".join(p))
    for tw, cn in (
        ("普丁", "普京"),
        ("川普", "特朗普"),
        ("賀錦麗", "哈里斯"),
        ("澤倫斯基", "泽连斯基"),
    ):
        text = text.replace(_T2S(tw), cn)
    return ["新华社电 " + text.split("\n")[0], *text.split("\n")[1:]]


def drop_last(p: list[str]) -> list[str]:
    return p[:-1]


def drop_second(p: list[str]) -> list[str]:
    return [p[0], *p[2:]]


def update_zh(p: list[str]) -> list[str]:
    return [
        *p,
        "（更新）最新消息指出，相關單位已於稍晚召開記者會說明後續處理方式，並表示將持續公布進展。",
    ]


def update_en(p: list[str]) -> list[str]:
    return [
        *p,
        "UPDATE: Officials said later on Tuesday that a briefing on the next steps would be held on Wednesday morning.",
    ]


def swap(p: list[str]) -> list[str]:
    q = list(p)
    q[1], q[2] = q[2], q[1]
    return q


def edit_words(p: list[str]) -> list[str]:
    """An editor's touch: a few words changed."""
    swaps = (("表示", "指出"), ("週一", "星期一"), ("said", "told reporters"), ("on Monday", "Monday"),
             ("目前", "當前"), ("官員", "官方人士"), ("officials", "authorities"), ("about", "some"),
             ("認為", "相信"), ("多次", "數度"), ("won", "received"))  # fmt: skip
    out = []
    for para in p:
        for a, b in swaps:
            para = para.replace(a, b, 1)
        out.append(para)
    return out


def wire_en(p: list[str]) -> list[str]:
    """The same wire copy under another headline and dateline."""
    return ["Headline: Officials confirm the report", "By Staff Writers", "LONDON (Wire) - " + p[0],
            *p[1:], "(Reporting by Anna Smith; Editing by Mark Jones)"]  # fmt: skip


def trim(p: list[str]) -> list[str]:
    return p[: max(2, (len(p) + 1) // 2)]


Base = tuple[str, list[str], list[Callable[[list[str]], list[str]]]]

COPIES_ZH: list[Base] = [
    (
        "普丁訪問越南",
        [
            "俄羅斯總統普丁週四抵達河內，展開為期兩天的國是訪問，這是他七年來首度訪問越南。",
            "越南國家主席蘇林在總統府舉行歡迎儀式，雙方預計簽署能源、教育與科技等十餘項合作文件。",
            "分析人士認為，河內此舉意在平衡與美中俄三方的關係，避免在大國競爭中選邊站。",
            "美國駐越南大使館發言人表示，任何國家都不應為普丁提供宣傳其侵略戰爭的平台。",
        ],
        [mainland, wire_zh, drop_last],
    ),
    (
        "颱風凱米登陸",
        [
            "中度颱風凱米今天凌晨從宜蘭南澳一帶登陸，中央氣象署表示，暴風圈已籠罩全台。",
            "截至上午十時，全台累計停電戶數超過二十萬戶，台電已出動上千名人員搶修。",
            "各縣市政府宣布停班停課，交通部提醒民眾非必要不要外出，並避免前往山區與海邊。",
            "氣象署預估，颱風將於明天清晨從新竹附近出海，西半部仍須嚴防豪雨與強風。",
        ],
        [paper_zh, update_zh, swap],
    ),
    (
        "台積電法說會",
        [
            "台積電今天舉行法人說明會，公布第二季營收創下歷史新高，毛利率達百分之五十三。",
            "總裁魏哲家表示，人工智慧相關需求強勁，先進製程產能供不應求的情況將延續到明年。",
            "公司同時上調全年美元營收成長預估至百分之二十以上，資本支出維持在三百億美元區間。",
            "外資法人指出，美國亞利桑那廠的進度與成本仍是市場關注的焦點。",
        ],
        [wire_zh, mainland, edit_words],
    ),
    (
        "北韓氣球",
        [
            "南韓聯合參謀本部表示，北韓週一晚間再度放出數百個垃圾氣球，部分落在首爾及京畿道一帶。",
            "軍方呼籲民眾發現氣球時切勿碰觸，應立即通報警方或軍方處理。",
            "這是北韓本月以來第五度放出氣球，南韓政府考慮恢復在邊境以擴音器進行心戰廣播。",
            "統一部發言人批評，北韓的行為既低劣又危險，違反了停戰協定的精神。",
        ],
        [mainland, drop_second, paper_zh],
    ),
    (
        "立法院通過預算",
        [
            "立法院今天三讀通過中央政府總預算案，總額約二兆八千億元，刪減幅度為近年最大。",
            "朝野黨團對國防與能源相關科目的刪凍爭議激烈，表決一路進行到深夜才結束。",
            "行政院長表示，將審慎評估刪減對政務推動的影響，不排除提出覆議。",
            "在野黨團則認為，預算審查是國會監督行政權的重要職責，刪減都有充分理由。",
        ],
        [wire_zh, trim, update_zh],
    ),
    (
        "日圓貶值",
        [
            "日圓兌美元匯率週三一度跌破一百六十一，創下三十七年來新低，市場關注日本央行是否再度進場干預。",
            "日本財務大臣表示，政府正以高度緊迫感注視匯市動向，必要時將採取適當行動。",
            "分析師指出，美日利差持續擴大是日圓走弱的主因，短期內趨勢難以扭轉。",
            "日圓走貶推升進口物價，日本國內的通膨壓力與民眾生活負擔也隨之增加。",
        ],
        [mainland, edit_words, swap],
    ),
    (
        "澤倫斯基訪美",
        [
            "烏克蘭總統澤倫斯基週二抵達華盛頓，將與美國總統拜登會面，爭取更多軍事援助。",
            "澤倫斯基在抵達後表示，烏克蘭需要更多防空系統，以保護能源設施免受俄軍飛彈攻擊。",
            "白宮官員透露，美方預計宣布一項價值約十億美元的新援助方案，包括彈藥與裝甲車輛。",
            "部分共和黨議員對持續援烏表達保留，要求政府提出更明確的戰略目標。",
        ],
        [mainland, wire_zh, drop_last],
    ),
    (
        "花蓮地震",
        [
            "花蓮外海今天上午發生芮氏規模七點二地震，震源深度十五公里，全台均有明顯搖晃。",
            "花蓮市區多棟建物傾斜，消防局已出動搜救隊，目前已知至少九人死亡、上千人受傷。",
            "太魯閣國家公園內多處落石坍方，數百名遊客與員工一度受困，直升機陸續展開救援。",
            "中央氣象署表示，未來三天仍可能發生規模六以上的餘震，請民眾提高警覺。",
        ],
        [paper_zh, mainland, update_zh],
    ),
    (
        "川普判決",
        [
            "美國前總統川普在紐約的封口費案中，被陪審團裁定三十四項偽造商業紀錄罪名全部成立。",
            "川普在法院外對媒體表示，這是一場被操縱的審判，他將提出上訴。",
            "法官預定七月宣判，法律專家認為初犯且屬非暴力犯罪，被判入獄的可能性不高。",
            "這是美國史上首位前總統被判重罪，但並不影響他參加十一月大選的資格。",
        ],
        [mainland, wire_zh, trim],
    ),
    (
        "賀錦麗辯論",
        [
            "美國副總統賀錦麗與前總統川普週二晚間在費城舉行首場總統大選辯論，雙方就經濟、移民與墮胎議題激烈交鋒。",
            "賀錦麗多次主動出擊，批評川普的關稅政策將推高物價，並質疑他對民主制度的承諾。",
            "川普則把焦點放在通膨與邊境安全，指責現任政府讓數百萬非法移民入境。",
            "多項即時民調顯示，觀眾普遍認為賀錦麗在這場辯論中表現較佳。",
        ],
        [mainland, paper_zh, edit_words],
    ),
    (
        "高鐵停駛",
        [
            "台灣高鐵今天上午因電車線異常，南下列車一度在新竹與苗栗之間停駛約兩小時。",
            "高鐵公司表示，事故原因初步研判是電車線附掛異物，技術人員已到場搶修完成。",
            "受影響旅客可於一年內辦理全額退票，高鐵也加開多班列車疏運滯留人潮。",
            "交通部要求高鐵公司在一週內提出完整檢討報告，並加強設備巡檢。",
        ],
        [wire_zh, swap, drop_second],
    ),
    (
        "蘋果發表會",
        [
            "蘋果公司在加州總部舉行秋季發表會，推出新一代手機，強調搭載自家人工智慧功能。",
            "新機採用更大尺寸螢幕與新設計的相機控制按鍵，售價與去年機型相同。",
            "分析師指出，人工智慧功能在中國市場的推出時程仍不明朗，可能影響當地銷量。",
            "蘋果股價在發表會後小幅下跌，投資人對換機潮能否出現仍持觀望態度。",
        ],
        [mainland, wire_zh, update_zh],
    ),
    (
        "央行升息",
        [
            "中央銀行理監事會今天決議調升政策利率半碼，重貼現率由百分之二升至二點一二五。",
            "央行總裁表示，國內通膨預期仍高於目標，此次升息有助於抑制物價上漲壓力。",
            "央行同時加強選擇性信用管制，第二戶購屋貸款成數上限降為七成。",
            "市場人士認為，央行此舉出乎部分預期，股市盤後期貨應聲下跌。",
        ],
        [paper_zh, mainland, drop_last],
    ),
    (
        "馬斯克收購",
        [
            "特斯拉執行長馬斯克宣布，旗下人工智慧公司將與社群平台合併，交易以換股方式進行。",
            "馬斯克在社群貼文中表示，整合資料與運算資源將加速模型開發，並改善平台內容推薦。",
            "部分股東質疑此舉存在利益衝突，要求董事會成立獨立委員會審查交易條件。",
            "市場分析認為，合併後公司估值可能超過千億美元，但監管機關的態度仍是變數。",
        ],
        [wire_zh, edit_words, trim],
    ),
    (
        "巴黎奧運開幕",
        [
            "巴黎奧運開幕典禮週五晚間在塞納河上舉行，各國代表團搭乘船隻沿河進場，為史上首次。",
            "開幕當天巴黎下起大雨，但沿岸仍湧入數十萬名觀眾，場面十分熱鬧。",
            "法國總統馬克宏致詞表示，這屆奧運將展現法國的創意與包容。",
            "主辦單位表示，安全部署動員了超過四萬名警力，為和平時期規模最大的維安行動。",
        ],
        [mainland, paper_zh, swap],
    ),
    (
        "以色列停火",
        [
            "以色列與哈瑪斯在卡達與埃及斡旋下達成停火協議，第一階段為期六週，雙方將交換人質與囚犯。",
            "卡達總理在杜哈宣布消息，表示協議將於週日正式生效。",
            "加薩走廊居民湧上街頭慶祝，但也有人擔心停火難以持久。",
            "以色列總理辦公室表示，內閣將在表決通過後才會正式批准協議內容。",
        ],
        [wire_zh, mainland, update_zh],
    ),
    (
        "缺蛋危機",
        [
            "農業部表示，受禽流感與高溫影響，近期雞蛋供應吃緊，將專案進口雞蛋以穩定市場。",
            "部分超市出現限購措施，早餐店業者反映進貨成本上漲三成以上。",
            "農業部長強調，進口雞蛋皆經過檢疫，民眾可以安心食用。",
            "消費者團體則呼籲政府公開進口雞蛋的來源與保存期限，確保資訊透明。",
        ],
        [paper_zh, drop_second, edit_words],
    ),
    (
        "香港基本法二十三條",
        [
            "香港立法會今天全票通過基本法二十三條立法，新法將於週六刊憲生效。",
            "特首李家超表示，立法填補了國家安全的漏洞，香港可以全力拚經濟。",
            "美國與英國政府批評新法定義模糊，可能進一步壓縮香港的新聞與言論自由。",
            "部分外國商會表示，將密切關注新法對企業營運與資訊流通的影響。",
        ],
        [mainland, wire_zh, trim],
    ),
    (
        "大谷翔平",
        [
            "道奇隊球星大谷翔平今天擊出本季第五十號全壘打，並完成五十盜壘，成為大聯盟史上第一人。",
            "大谷在比賽中六打數六安打，打下十分打點，全場觀眾起立致敬。",
            "道奇總教練表示，這是他見過最不可思議的單場表現之一。",
            "大谷賽後受訪時說，能和隊友一起拿下勝利、確定晉級季後賽，比個人紀錄更重要。",
        ],
        [mainland, paper_zh, update_zh],
    ),
    (
        "南韓戒嚴",
        [
            "南韓總統尹錫悅週二深夜突然宣布緊急戒嚴，指控在野黨從事反國家活動，引發社會震驚。",
            "國會在數小時內召開全體會議，出席的一百九十名議員全數通過要求解除戒嚴的決議案。",
            "尹錫悅隨後在凌晨宣布解除戒嚴，軍隊撤出國會大樓。",
            "在野黨表示將提出彈劾案，執政黨內部也出現要求總統下台的聲音。",
        ],
        [wire_zh, mainland, swap],
    ),
    (
        "黃仁勳來台",
        [
            "輝達執行長黃仁勳今天抵台，將出席台北國際電腦展並發表主題演講。",
            "黃仁勳在機場受訪時表示，台灣是全球人工智慧供應鏈的核心，輝達將持續擴大在台投資。",
            "他透露，輝達正在尋找台灣新總部的地點，預計今年內會有結果。",
            "大批粉絲在機場等候，黃仁勳親切地與民眾合影並幫忙簽名。",
        ],
        [paper_zh, mainland, drop_last],
    ),
    (
        "食安下架",
        [
            "衛生福利部食品藥物管理署今天公布，一批進口辣椒粉驗出蘇丹紅色素，已要求業者全面下架。",
            "食藥署表示，涉案產品流向包括多家連鎖餐廳與量販店，相關業者已主動配合回收。",
            "蘇丹紅屬於工業染料，不得添加於食品中，違者最高可處新台幣兩億元罰鍰。",
            "食藥署呼籲民眾若購買到相關產品，可持發票至原購買地點辦理退貨。",
        ],
        [wire_zh, edit_words, update_zh],
    ),
]

COPIES_EN: list[Base] = [
    (
        "ecb rates",
        [
            "The European Central Bank cut its key interest rate by a quarter point on Thursday, its first reduction in nearly five years, as inflation in the euro zone continued to ease.",
            "ECB President Christine Lagarde said the decision was not a commitment to further cuts and that future moves would depend on incoming data.",
            "Economists said the bank was likely to pause in July before considering another reduction in September.",
            "Markets had fully priced in the move, and the euro was little changed after the announcement.",
        ],
        [wire_en, update_en, drop_last],
    ),
    (
        "boeing strike",
        [
            "Machinists at Boeing voted to end a seven-week strike on Monday, accepting a contract that raises wages by 38 percent over four years.",
            "The union said members approved the deal by 59 percent, allowing production of the 737 MAX to resume at factories near Seattle.",
            "The walkout had halted most of the company's commercial jet output and cost it billions of dollars in lost revenue.",
            "Boeing's new chief executive said the company was eager to rebuild trust with its workforce.",
        ],
        [wire_en, edit_words, swap],
    ),
    (
        "wildfire",
        [
            "A fast-moving wildfire in the hills above Los Angeles forced tens of thousands of residents to flee on Tuesday as strong winds pushed flames toward homes.",
            "Fire officials said the blaze had burned more than 5,000 acres and destroyed at least 100 structures, with no containment so far.",
            "Power was cut to about 200,000 customers to reduce the risk of new fires sparked by damaged lines.",
            "The governor declared a state of emergency and requested federal assistance.",
        ],
        [wire_en, trim, update_en],
    ),
    (
        "chip export rules",
        [
            "The United States announced new export restrictions on advanced semiconductors and chipmaking equipment to China on Monday, widening rules first introduced two years ago.",
            "The Commerce Department said the measures were aimed at preventing the Chinese military from gaining access to cutting-edge artificial intelligence technology.",
            "China's foreign ministry said it firmly opposed the move and would take necessary measures to protect the rights of its companies.",
            "Shares of several equipment makers fell in early trading after the announcement.",
        ],
        [wire_en, drop_second, edit_words],
    ),
    (
        "mars sample",
        [
            "NASA said on Tuesday it would seek new proposals to bring rock samples back from Mars after its current plan became too expensive and slow.",
            "The agency's administrator said the existing design would cost about 11 billion dollars and not return samples until 2040.",
            "The Perseverance rover has collected more than two dozen sealed tubes of rock and soil that scientists hope contain signs of ancient life.",
            "NASA expects to choose a new approach later this year after reviewing ideas from companies and research centers.",
        ],
        [wire_en, swap, update_en],
    ),
    (
        "uk election",
        [
            "Britain's Labour Party won a landslide victory in the general election, ending 14 years of Conservative government.",
            "Keir Starmer was appointed prime minister by the King on Friday and promised a government of service focused on rebuilding the country.",
            "The Conservatives suffered their worst result in their history, losing more than 200 seats.",
            "Turnout was about 60 percent, among the lowest since the Second World War.",
        ],
        [wire_en, drop_last, edit_words],
    ),
    (
        "bird flu",
        [
            "Health officials confirmed a new human case of bird flu in a dairy worker in Michigan on Thursday, the third such case linked to an outbreak in cattle.",
            "The worker reported respiratory symptoms and was treated with antiviral medication, officials said, adding that the risk to the public remained low.",
            "The virus has been found in dairy herds in at least nine states since March.",
            "Federal agencies have stepped up testing of milk and are offering protective equipment to farm workers.",
        ],
        [wire_en, trim, swap],
    ),
    (
        "tesla recall",
        [
            "Tesla is recalling more than two million vehicles in the United States to fix a system that is meant to ensure drivers pay attention when using its Autopilot feature.",
            "The recall follows a two-year investigation by the national road safety regulator into a series of crashes involving the system.",
            "Tesla said it would send an over-the-air software update that adds more alerts and limits where the feature can be used.",
            "The company's shares fell about two percent in premarket trading.",
        ],
        [wire_en, update_en, edit_words],
    ),
    (
        "panama canal",
        [
            "The Panama Canal will further limit the number of ships allowed to pass each day because of a severe drought that has lowered water levels in its reservoirs.",
            "The canal authority said daily transits would fall to 24 from 32, with restrictions expected to last for most of next year.",
            "Shipping companies have been forced to choose between paying for priority slots and taking longer routes around South America.",
            "Officials said rainfall this year had been the lowest in more than seventy years.",
        ],
        [wire_en, drop_second, trim],
    ),
    (
        "oil output",
        [
            "OPEC and its allies agreed on Sunday to extend most of their oil production cuts well into next year, seeking to support prices amid tepid demand growth.",
            "The group said it would gradually unwind some voluntary cuts starting in October, depending on market conditions.",
            "Oil prices have hovered around 80 dollars a barrel in recent months, below the level many member states need to balance their budgets.",
            "Analysts said the decision showed the group's concern about rising output from the United States and other producers.",
        ],
        [wire_en, swap, update_en],
    ),
    (
        "nobel literature",
        [
            "South Korean author Han Kang won the Nobel Prize in Literature on Thursday, the first Asian woman to receive the award.",
            "The Swedish Academy praised her intense poetic prose that confronts historical traumas and exposes the fragility of human life.",
            "Han, 53, is best known internationally for The Vegetarian, which won the International Booker Prize in 2016.",
            "Bookstores in Seoul reported long lines and sold out of her novels within hours of the announcement.",
        ],
        [wire_en, edit_words, drop_second],
    ),
    (
        "crowdstrike outage",
        [
            "A faulty software update from the cybersecurity company CrowdStrike crashed millions of Windows computers worldwide on Friday, grounding flights and disrupting hospitals and banks.",
            "The company said the problem was not a cyberattack and that a fix had been deployed, but many machines had to be repaired by hand.",
            "Airlines in the United States canceled thousands of flights, and some emergency call centers were briefly knocked offline.",
            "CrowdStrike's chief executive apologized and said the company would work with every affected customer.",
        ],
        [wire_en, trim, swap],
    ),
    (
        "baltimore bridge",
        [
            "A container ship lost power and struck the Francis Scott Key Bridge in Baltimore early on Tuesday, causing most of the span to collapse into the Patapsco River.",
            "Six construction workers who were filling potholes on the bridge were presumed dead, officials said after divers searched the water for hours.",
            "The crew of the ship issued a mayday call moments before the crash, allowing police to stop traffic onto the bridge.",
            "The closure of the port, one of the busiest on the East Coast, is expected to disrupt shipping for weeks.",
        ],
        [wire_en, update_en, edit_words],
    ),
    (
        "olympic swimmer",
        [
            "French swimmer Leon Marchand won two Olympic gold medals within two hours on Wednesday night, thrilling the home crowd at the Paris pool.",
            "Marchand first beat the reigning champion in the 200-meter butterfly, then returned to set an Olympic record in the 200-meter breaststroke.",
            "The 22-year-old, who trains in Texas, became the first swimmer to win both events at the same Games.",
            "President Emmanuel Macron congratulated him on social media, calling him a national hero.",
        ],
        [wire_en, drop_last, swap],
    ),
]

# --- hard negatives: texts that must stay apart -----------------------------------------

BRIEFING_OPEN = "2024年{date}，外交部發言人林劍主持例行記者會。以下是記者會的主要內容。"
BRIEFING_CLOSE = "以上是今天記者會的全部內容。下次記者會的時間將另行通知，謝謝大家。"
BRIEFINGS = [
    (
        "6月3日",
        "問：菲律賓海警船昨天在仁愛礁附近與中方船隻對峙，中方有何回應？答：中方海警依法在本國管轄海域開展維權執法活動，菲方船隻擅自闖入，中方堅決反對。我們敦促菲方停止侵權挑釁，不要誤判形勢。",
    ),
    (
        "6月4日",
        "問：美國國務院宣布對台出售無人機及相關設備，中方如何看待？答：美方售台武器嚴重違反一個中國原則和中美三個聯合公報規定，中方已向美方提出嚴正交涉，將採取堅決有力措施捍衛國家主權。",
    ),
    (
        "6月5日",
        "問：歐盟委員會決定對中國產電動汽車加徵臨時反補貼稅，中方有何評論？答：歐方此舉是典型的保護主義行為，違背市場經濟原則和國際貿易規則，中方將密切關注並採取一切必要措施維護中國企業的正當權益。",
    ),
    (
        "6月6日",
        "問：據報導，中國嫦娥六號探測器已完成月球背面採樣，外交部對國際合作有何介紹？答：嫦娥六號搭載了法國、義大利、巴基斯坦和歐洲太空總署的科學儀器，中方願同各國分享月球樣品研究成果，推動和平利用外太空。",
    ),
    (
        "6月7日",
        "問：巴西總統將於下月訪華，雙方會討論哪些議題？答：中巴是全面戰略夥伴，雙方將就經貿、農業、能源轉型和氣候變化等議題深入交換意見，並簽署多項合作協議，推動兩國關係邁上新台階。",
    ),
    (
        "6月10日",
        "問：日本首相發表涉及台灣海峽的言論，中方是否已提出交涉？答：台灣問題純屬中國內政，不容任何外部勢力干涉。日方應恪守四個政治文件的原則，在涉台問題上謹言慎行，不要向台獨分裂勢力發出錯誤信號。",
    ),
    (
        "6月11日",
        "問：聯合國安理會今天將討論加薩人道局勢，中方立場是什麼？答：中方呼籲立即實現全面持久停火，確保人道物資安全順暢進入加薩，並支持巴勒斯坦成為聯合國正式會員國，推動落實兩國方案。",
    ),
    (
        "6月12日",
        "問：有報導稱中國企業向俄羅斯提供軍民兩用物項，美方威脅實施制裁，中方有何回應？答：中方從未向衝突任何一方提供致命性武器，並嚴格管控軍民兩用物項出口。我們堅決反對美方無端指責和非法單邊制裁。",
    ),
    (
        "6月13日",
        "問：中國與東協國家今天在寮國舉行南海行為準則磋商，進展如何？答：各方同意加快推進準則案文第三輪審讀，爭取早日達成有效、實質、符合國際法的準則，共同維護南海的和平穩定。",
    ),
    (
        "6月14日",
        "問：澳大利亞總理下週將會見中國總理，兩國關係前景如何？答：中澳關係保持改善發展勢頭，雙方將圍繞貿易、人文交流和地區局勢等議題交換意見。中方願同澳方相互尊重，推動全面戰略夥伴關係行穩致遠。",
    ),
    (
        "6月17日",
        "問：北韓與俄羅斯簽署全面戰略夥伴關係條約，中方怎麼看？答：這是兩個主權國家之間的雙邊交往，中方不作評論。中方始終致力於維護朝鮮半島的和平穩定，推動半島問題政治解決進程。",
    ),
    (
        "6月19日",
        "問：有媒體報導稱，中方將恢復進口日本水產品，消息是否屬實？答：中方關於日本福島核污染水排海的立場是一貫的。中日雙方正就長期國際監測安排進行溝通，在獨立取樣檢測結果符合標準後，中方將逐步調整相關措施。",
    ),
    (
        "6月20日",
        "問：歐洲議會選舉結果出爐，中方是否擔心中歐關係受到影響？答：中歐是合作夥伴而非對手，雙方共同利益遠大於分歧。我們希望新一屆歐洲議會以客觀理性的態度看待中國，為中歐關係健康發展發揮建設性作用。",
    ),
    (
        "6月21日",
        "問：一名中國公民在美國機場遭到盤查並被遣返，中方如何應對？答：美方以所謂國家安全為由無理盤查、騷擾和遣返中國留學生，嚴重干擾中美人文交流。中方已提出嚴正交涉，敦促美方停止歧視性執法。",
    ),
    (
        "6月18日",
        "問：世界衛生大會未邀請台灣以觀察員身分出席，中方有何說明？答：台灣地區參與國際組織活動必須按照一個中國原則處理，這是聯大第二七五八號決議確認的。所謂台灣參與世衛的問題根本不存在。",
    ),
]

PAIRS: list[tuple[str, list[str], list[str]]] = [
    (
        "north korea launches",
        [
            "North Korea fired a short-range ballistic missile into the sea off its east coast on Tuesday morning, South Korea's Joint Chiefs of Staff said.",
            "The missile was launched from an area near Pyongyang and flew about 600 kilometers before splashing down outside Japan's exclusive economic zone.",
            "The launch came a day after the United States and South Korea began a joint air exercise involving strategic bombers.",
            "Japan's defense ministry said there were no reports of damage to ships or aircraft.",
        ],
        [
            "North Korea launched what appeared to be an intercontinental ballistic missile on Thursday, its first such test in nearly a year, Seoul and Tokyo said.",
            "The missile flew for more than 80 minutes on a lofted trajectory and reached an altitude of over 7,000 kilometers, Japan's defense minister told reporters.",
            "Leader Kim Jong Un oversaw the test and said it demonstrated the country's resolve to respond to hostile moves, state media reported the next day.",
            "The United Nations Security Council scheduled an emergency meeting at the request of Washington and Tokyo.",
        ],
    ),
    (
        "putin visits",
        [
            "普丁週二抵達北京進行國事訪問，這是他今年第一次出訪，雙方預計簽署多項能源合作協議。",
            "習近平在人民大會堂為普丁舉行歡迎儀式，兩人隨後進行小範圍會談，討論烏克蘭局勢與雙邊貿易。",
            "普丁在會談後表示，俄中關係處於歷史最好水平，兩國將擴大以本國貨幣結算的貿易。",
            "行程第二天，普丁前往哈爾濱出席中俄博覽會，並參觀當地一所工業大學。",
        ],
        [
            "普丁上月底飛抵阿斯塔納出席上海合作組織峰會，並與多國領袖舉行雙邊會晤。",
            "普丁與哈薩克總統托卡耶夫會面時，討論了裏海能源管線與糧食出口走廊等議題。",
            "峰會通過宣言，強調反對單邊制裁，並同意擴大成員國之間的安全合作。",
            "普丁在記者會上批評西方國家持續向烏克蘭提供武器，並表示俄方對談判保持開放態度。",
        ],
    ),
    (
        "typhoons",
        [
            "颱風山陀兒今天下午在高雄小港登陸，是史上罕見從西南部登陸的颱風，高雄市全天停班停課。",
            "受颱風影響，高雄、屏東多處淹水，港區貨櫃遭強風吹倒，一名貨車司機受傷送醫。",
            "台電統計全台停電戶數超過三十萬戶，主要集中在高屏地區。",
            "氣象署表示，颱風登陸後強度迅速減弱，預計明晨轉為熱帶性低氣壓。",
        ],
        [
            "颱風康芮今天下午從台東成功登陸，為十一月登陸台灣的颱風中強度最強的一個。",
            "花東地區風雨強烈，蘇花公路與南迴公路多處坍方封閉，數千名旅客受困。",
            "宜蘭山區累積雨量超過一千毫米，農業部初估農損已達數億元。",
            "氣象署說，颱風將由新竹一帶出海，北部地區明天上午前仍有豪雨。",
        ],
    ),
    (
        "fed meetings",
        [
            "The Federal Reserve held interest rates steady on Wednesday for a sixth straight meeting, saying inflation had made little progress toward its 2 percent goal in recent months.",
            "Chair Jerome Powell told reporters it was unlikely the next move would be a rate increase, easing fears of further tightening.",
            "The central bank also said it would slow the pace at which it shrinks its balance sheet starting in June.",
            "Stocks rose after Powell's remarks before giving up their gains late in the session.",
        ],
        [
            "The Federal Reserve cut interest rates by half a percentage point on Wednesday, its first reduction since 2020, as officials shifted focus to supporting the job market.",
            "Powell said the larger move reflected growing confidence that inflation was heading sustainably back to target, but he cautioned against expecting cuts of that size to continue.",
            "Policymakers projected another half point of cuts by the end of the year, according to their median forecast.",
            "One governor dissented in favor of a smaller quarter-point reduction, the first dissent by a governor since 2005.",
        ],
    ),
    (
        "taiwan drills",
        [
            "中國人民解放軍東部戰區今天宣布在台灣周邊展開代號聯合利劍的聯合演習，出動大批軍機與艦艇。",
            "國防部表示，今天上午偵獲共機四十二架次、共艦十六艘，國軍已派遣任務兵力嚴密監控。",
            "演習選在總統就職後第三天舉行，被外界視為對新政府的施壓。",
            "美國國務院呼籲北京保持克制，不要採取破壞台海和平穩定的行動。",
        ],
        [
            "解放軍東部戰區宣布在台灣海峽中部和東部舉行實彈射擊訓練，海事局發布航行警告，要求船舶避開。",
            "國防部說，過去二十四小時偵獲共機二十六架次及海警船五艘，部分進入我國防空識別區西南空域。",
            "這次訓練在美國眾議院議長訪問亞洲期間舉行，北京批評美台官方往來挑釁。",
            "海巡署表示已加強金馬外島周邊巡邏，並提醒漁民注意作業安全。",
        ],
    ),
    (
        "earthquakes japan",
        [
            "A magnitude 7.5 earthquake struck the Noto Peninsula in central Japan on New Year's Day, triggering tsunami warnings along the Sea of Japan coast.",
            "Dozens of buildings collapsed in the city of Wajima, where a large fire broke out in a market district, officials said.",
            "More than 30,000 people were evacuated and tens of thousands of homes lost power in freezing weather.",
            "The prime minister said the government was racing against time to rescue people trapped under rubble.",
        ],
        [
            "A magnitude 7.1 earthquake struck off the coast of southern Japan on Thursday, prompting the country's first warning of an increased risk of a megaquake along the Nankai Trough.",
            "The quake injured about a dozen people in Miyazaki and Kagoshima prefectures, but there were no reports of major damage, officials said.",
            "The meteorological agency said the chance of a massive quake had risen, though it was still low, and urged residents to review evacuation plans.",
            "The prime minister canceled a planned trip to Central Asia to monitor the situation.",
        ],
    ),
    (
        "tsmc plants",
        [
            "台積電宣布在日本熊本設立的第一座晶圓廠正式開幕，將生產十二至二十八奈米製程的晶片。",
            "日本政府為這座工廠提供最高四千七百六十億日圓補助，希望重建國內的半導體供應鏈。",
            "台積電創辦人張忠謀出席典禮時表示，日本在材料與設備上的優勢將有助於工廠營運。",
            "當地因工廠進駐出現住宅與人力短缺，房租與工資明顯上漲。",
        ],
        [
            "台積電德國德勒斯登晶圓廠今天舉行動土典禮，歐盟執委會主席與德國總理出席。",
            "這座工廠將與博世、英飛凌及恩智浦合資，主要供應汽車與工業用晶片。",
            "德國政府承諾提供五十億歐元補貼，這是歐洲晶片法案下規模最大的補助之一。",
            "台積電董事長表示，歐洲客戶對成熟製程晶片的需求穩定，工廠預計二零二七年量產。",
        ],
    ),
    (
        "spacex launches",
        [
            "SpaceX's Starship rocket completed its first full flight test on Thursday, with the booster and the ship both splashing down under control after an hour-long mission.",
            "The company said the ship survived reentry despite damage to its flaps, a key step toward a fully reusable vehicle.",
            "NASA's administrator congratulated the team, noting that the agency plans to use Starship to land astronauts on the moon.",
            "Elon Musk said the next flight could attempt to catch the booster with the launch tower's mechanical arms.",
        ],
        [
            "SpaceX caught the booster of its Starship rocket with giant mechanical arms on the launch tower on Sunday, a first in spaceflight.",
            "The 70-meter booster returned to the pad in Texas about seven minutes after liftoff and was held in place by the arms in a maneuver engineers called chopsticks.",
            "The ship continued to the Indian Ocean, where it made a controlled splashdown after a fiery reentry.",
            "The Federal Aviation Administration had approved the flight only days earlier after a review of environmental issues.",
        ],
    ),
    (
        "egg prices",
        [
            "農業部今天宣布，因應禽流感疫情擴大，將自美國及泰國專案進口一千萬顆雞蛋，下週起陸續到港。",
            "農業部表示，進口雞蛋將優先供應學校營養午餐與早餐店，並由農產品公司統一分配。",
            "目前全台已撲殺雞隻超過五十萬隻，多個縣市的蛋雞場仍在持續監測中。",
            "蛋商公會表示，產地價格近兩週已上漲兩成。",
        ],
        [
            "農業部今天宣布，雞蛋產地價格將每台斤調降二元，反映近期蛋雞產能恢復、供應轉趨充足。",
            "農業部表示，前一年進口的雞蛋已全數處理完畢，今年不會再專案進口。",
            "部分蛋農反映飼料成本仍高，擔心價格下跌將壓縮獲利空間。",
            "消費者團體則歡迎降價，並希望零售通路能同步反映。",
        ],
    ),
    (
        "zelensky visits",
        [
            "Ukrainian President Volodymyr Zelensky visited troops near the front line in the eastern Donetsk region on Monday, handing out medals to soldiers.",
            "Zelensky said in a video address that the situation around the town of Pokrovsk remained extremely difficult and that reinforcements were on the way.",
            "Russian forces have advanced several kilometers in the area in recent weeks, according to analysts.",
            "The visit came as Ukraine continued its incursion into Russia's Kursk region.",
        ],
        [
            "Ukrainian President Volodymyr Zelensky met German Chancellor Olaf Scholz in Berlin on Friday to discuss air defense and long-term financing for reconstruction.",
            "Scholz announced a new package of military aid worth 1.4 billion euros, including additional IRIS-T systems.",
            "Zelensky thanked Germany but repeated his request for long-range Taurus missiles, which Berlin has declined to supply.",
            "The two leaders also attended a business forum on rebuilding Ukraine's energy grid.",
        ],
    ),
    (
        "dw seed subject",
        [
            "（德國之聲中文網）北約秘書長斯托爾滕貝格週二在布魯塞爾表示，盟國已同意擴大對烏克蘭的防空援助，將在年底前提供更多愛國者系統。",
            "他指出，俄羅斯持續攻擊烏克蘭的電力設施，防空系統對保護平民至關重要。",
            "德國、荷蘭與羅馬尼亞已承諾各提供一套系統，其他盟國則將提供飛彈與零件。",
            "斯托爾滕貝格並表示，北約將在華盛頓峰會上討論建立長期援烏機制。",
        ],
        [
            "（德國之聲中文網）北約秘書長斯托爾滕貝格週四在記者會上表示，中國正在推動俄羅斯對烏克蘭的戰爭，西方不能對此視而不見。",
            "他說，中國向俄羅斯提供機床、微電子與其他軍民兩用產品，幫助俄國重建軍工生產能力。",
            "斯托爾滕貝格呼籲盟國考慮讓中國為此付出代價，但也表示北約不視中國為敵人。",
            "中國外交部隨後回應，北約應停止散布虛假資訊，不要把亞太地區搞亂。",
        ],
    ),
]

PAIRS += [
    (
        "court rulings",
        [
            "The Supreme Court ruled on Monday that former presidents have broad immunity from criminal prosecution for official acts, a decision likely to delay the federal case against Donald Trump.",
            "The 6-3 ruling sent the case back to the trial judge to decide which of the charges involve official conduct.",
            "Chief Justice John Roberts wrote that the president may not be prosecuted for exercising core constitutional powers.",
            "Justice Sonia Sotomayor wrote in dissent that the decision made the president a king above the law.",
        ],
        [
            "The Supreme Court ruled on Friday that cities may enforce bans on homeless people sleeping outdoors, overturning a lower court decision that such laws were cruel and unusual punishment.",
            "The case came from Grants Pass, Oregon, where the city had fined people for sleeping in parks with blankets or pillows.",
            "Justice Neil Gorsuch wrote for the majority that the Constitution does not give federal judges authority to dictate homelessness policy.",
            "Advocates for homeless people said the ruling would lead to more arrests without solving the housing shortage.",
        ],
    ),
    (
        "power outages",
        [
            "台電今天下午因興達電廠開關場設備故障，導致多部機組跳脫，全台有超過四百萬戶停電。",
            "經濟部長表示，停電原因是人員操作失誤，將追究相關責任，並要求台電檢討備援機制。",
            "台電分四輪實施分區輪流停電，至晚間九時才全面恢復供電。",
            "這是今年以來第二次大規模停電，工商團體呼籲政府正視電網韌性問題。",
        ],
        [
            "台電今天清晨因高雄路竹超高壓變電所設備異常，造成南部地區約三十萬戶停電，部分紅綠燈失靈。",
            "台電表示，初步判斷是變電所內比流器故障起火，所幸沒有人員受傷。",
            "受影響地區大多在一小時內恢復供電，科學園區廠商則啟動自備發電機，生產未受明顯影響。",
            "經濟部要求台電在三天內提交事故報告，並全面檢查同型設備。",
        ],
    ),
]

# Two outlets report one event, each in its own words (no shared wire text).
OWN_WORDS: list[tuple[str, list[str], list[str]]] = [
    (
        "hualien quake two outlets",
        [
            "花蓮今晨強震，規模七點二的地震讓花蓮市一棟九層大樓嚴重傾斜，消防人員正在逐層搜救受困住戶。",
            "中央災害應變中心統計，目前已有九人罹難，傷者多是在山區步道遭落石擊中。",
            "鐵路局表示，北迴線部分路段軌道變形，列車暫停行駛，預計明天才能恢復通車。",
        ],
        [
            "一場二十五年來最強的地震今天上午撼動台灣東部，天王星大樓向一側倒塌，一樓幾乎被壓平。",
            "救難人員說，太魯閣一帶的山路被大片岩石阻斷，他們必須靠直升機才能把受困的工人和遊客接出來。",
            "台北捷運在晃動時一度停駛，不少通勤族表示從未感受過這麼劇烈的搖晃。",
        ],
    ),
    (
        "uk election two outlets",
        [
            "Labour swept to power in Britain with a huge majority, as voters punished the Conservatives for years of economic turmoil and scandal.",
            "Starmer, a former chief prosecutor, told supporters in London that the country had voted for change and that his party would govern for everyone.",
            "Rishi Sunak conceded defeat early on Friday and apologized to Conservative candidates who lost their seats.",
        ],
        [
            "The Conservative Party collapsed to its worst defeat in nearly two centuries as Keir Starmer's Labour won more than 400 of the 650 seats in Parliament.",
            "Reform UK, the anti-immigration party led by Nigel Farage, won several seats for the first time, while the Liberal Democrats also made big gains.",
            "In his first speech in Downing Street, the new prime minister said rebuilding would take time and asked the public for patience.",
        ],
    ),
]


def seed_paragraphs() -> list[list[str]]:
    """The five seed articles' texts, as the extractor finds them, one paragraph a line."""
    from datetime import UTC, datetime

    from monitor.extract import extract
    from monitor.models import RawItem

    seeds = sorted((HERE.parents[2] / "seeds").glob("*.txt"))
    texts = []
    for path in seeds:
        item = RawItem("seeds", path.name, path.read_bytes(), "text/plain", datetime.now(UTC))
        texts.append([p for p in extract(item).text.splitlines() if p.strip()])
    return texts


SEED_COPIES = [[mainland, trim], [wire_zh, update_zh], [paper_zh, drop_second], [mainland, swap],
               [wire_zh, drop_last]]  # fmt: skip


def write(folder: Path, name: str, paragraphs: list[str]) -> None:
    (folder / f"{name}.txt").write_text("\n".join(paragraphs) + "\n", encoding="utf-8")


def main() -> None:
    zh_frozen, en_frozen = 16, 10  # bases from these indexes on go to frozen/
    for part in ("tune", "frozen"):
        shutil.rmtree(HERE / part, ignore_errors=True)
        (HERE / part).mkdir()
    for bases, frozen_from, prefix in ((COPIES_ZH, zh_frozen, "gz"), (COPIES_EN, en_frozen, "ge")):
        for index, (_, paragraphs, copies) in enumerate(bases):
            folder = HERE / ("frozen" if index >= frozen_from else "tune")
            write(folder, f"{prefix}{index:02d}-0", paragraphs)
            for n, transform in enumerate(copies, 1):
                write(
                    folder, f"{prefix}{index:02d}-{n}-{transform.__name__}", transform(paragraphs)
                )
    for index, paragraphs in enumerate(seed_paragraphs()):
        folder = HERE / ("frozen" if index == 4 else "tune")
        write(folder, f"gs{index:02d}-0", paragraphs)
        for n, transform in enumerate(SEED_COPIES[index], 1):
            write(folder, f"gs{index:02d}-{n}-{transform.__name__}", transform(paragraphs))
    for index, (date, body) in enumerate(BRIEFINGS):
        folder = HERE / ("frozen" if index >= 11 else "tune")
        write(folder, f"nb{index:02d}", [BRIEFING_OPEN.format(date=date), body, BRIEFING_CLOSE])
    for index, (_, first, second) in enumerate(PAIRS + OWN_WORDS):
        folder = HERE / ("frozen" if index in (8, 9, 11, 12, 14) else "tune")
        kind = "no" if index >= len(PAIRS) else "np"
        write(folder, f"{kind}{index:02d}-a", first)
        write(folder, f"{kind}{index:02d}-b", second)


if __name__ == "__main__":
    main()
